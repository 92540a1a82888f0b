/* glibc's internal scratch_buffer.h declares the __libc_scratch_buffer_* functions that
   libc.so exports (GLIBC_PRIVATE) with libc_hidden_proto, which only means something inside
   libc itself. Outside it the declaration is an ordinary one.  */
#ifndef libc_hidden_proto
# define libc_hidden_proto(name)
#endif
#include <glibc-internal/scratch_buffer.h>
