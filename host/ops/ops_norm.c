/* STUB: the checked entry points land here. */
#include "check.h"
