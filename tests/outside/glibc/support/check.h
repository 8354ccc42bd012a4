/* shim: see support/shim.h */
#include <support/shim.h>
