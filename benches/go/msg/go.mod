module dillbenchmsg

go 1.19
