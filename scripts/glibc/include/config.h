/* Stands in for the config.h of a configured glibc build tree, for the few test-support
   files that include it. They need none of its HAVE_ macros: the tests are built against
   the installed glibc, which was configured already.  */
#ifndef COMPAT_GLIBC_CONFIG_H
#define COMPAT_GLIBC_CONFIG_H 1
#endif
