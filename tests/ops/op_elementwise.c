/* STUB: op descriptors land here. */
#include "ops_list.h"
