/* Declared for the sandbox's own tests: deliberately NOT implemented, so a
 * call shows how an unimplemented kernel service is reported. */
#ifndef _SANDBOX_TESTING_H
#define _SANDBOX_TESTING_H

#include "compiler.h"

KAPI int sandbox_unimplemented_service(int x);

#endif
