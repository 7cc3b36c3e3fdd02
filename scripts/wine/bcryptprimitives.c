/*
 * Test shim for Wine 8 (Debian 12), which lacks bcryptprimitives.dll. Windows has had it
 * since Windows 8; Rust's standard library (and getrandom) take random bytes from its
 * ProcessPrng. This forwards ProcessPrng to BCryptGenRandom, the system's CSPRNG, so that
 * hush.exe runs under that Wine. scripts/cross puts it next to hush.exe in target/cross
 * only: it is never shipped.
 */
#include <windows.h>
#include <bcrypt.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (BCryptGenRandom(NULL, data, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0)
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
