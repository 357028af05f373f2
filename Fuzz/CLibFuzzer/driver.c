// The declaration in include/CLibFuzzer.h is all this module provides; libFuzzer itself comes
// with the toolchain's -sanitize=fuzzer.
#include "CLibFuzzer.h"
