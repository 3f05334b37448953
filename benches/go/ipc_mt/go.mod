module ipcmt

go 1.19
