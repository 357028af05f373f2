import Tensors
BLASCoreSelection.reexecutingWithBestCoreIfNeeded()
print(BLAS.coreName)
