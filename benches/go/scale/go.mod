module dill.bench/scale

go 1.19
