/* A stand-in for the one Apple SDK header ring's C includes, for scripts/cross's macOS
 * `cargo check` only: the objects are compiled (so the C is checked for the target) and
 * never linked. Values of a macOS (not iOS) target. */
#define TARGET_OS_MAC 1
#define TARGET_OS_OSX 1
#define TARGET_OS_IPHONE 0
#define TARGET_OS_IOS 0
#define TARGET_OS_WATCH 0
#define TARGET_OS_TV 0
#define TARGET_OS_SIMULATOR 0
