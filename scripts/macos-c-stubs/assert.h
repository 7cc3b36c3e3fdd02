/* scripts/cross's macOS check only (see TargetConditionals.h): ring's C is built with
 * NDEBUG, where assert expands to nothing. */
#define assert(x) ((void)0)
