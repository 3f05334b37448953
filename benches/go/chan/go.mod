module dillbenchchan

go 1.19
