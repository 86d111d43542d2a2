/* The umbrella header: everything the sandbox kernel offers a driver. */
#ifndef _SANDBOX_KERNEL_H
#define _SANDBOX_KERNEL_H

#include "compiler.h"
#include "types.h"
#include "stdarg.h"
#include "errno.h"
#include "printk.h"
#include "slab.h"
#include "string.h"
#include "interrupt.h"
#include "spinlock.h"
#include "io.h"
#include "timer.h"
#include "delay.h"
#include "module.h"
#include "export.h"
#include "fs.h"
#include "testing.h"

#endif
