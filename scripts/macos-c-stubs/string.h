/* scripts/cross's macOS check only (see TargetConditionals.h): the libc declarations
 * ring's C uses, as macOS's libc declares them. */
#include <stddef.h>
void *memcpy(void *, const void *, size_t);
void *memmove(void *, const void *, size_t);
void *memset(void *, int, size_t);
int memcmp(const void *, const void *, size_t);
size_t strlen(const char *);
