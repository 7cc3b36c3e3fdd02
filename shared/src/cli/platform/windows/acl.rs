//! Owner-only files on Windows, the equivalent of mode 0600: created with a protected DACL
//! that grants the user alone full access (nothing inherited from the folder), and refused
//! on reading when their DACL lets anybody else read or write them.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::windows::ffi::OsStrExt;
use std::os::windows::io::{AsRawHandle, FromRawHandle};
use std::path::Path;

use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_SUCCESS, GENERIC_ALL, GENERIC_READ, GENERIC_WRITE, HANDLE, HLOCAL,
    INVALID_HANDLE_VALUE, LocalFree,
};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW, GetSecurityInfo,
    SDDL_REVISION_1, SE_FILE_OBJECT,
};
use windows_sys::Win32::Security::{
    ACCESS_ALLOWED_ACE, ACE_HEADER, ACL, DACL_SECURITY_INFORMATION, EqualSid, GetAce,
    GetTokenInformation, INHERIT_ONLY_ACE, IsWellKnownSid, LookupAccountSidW,
    OWNER_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID, SECURITY_ATTRIBUTES, SID_NAME_USE,
    TOKEN_QUERY, TOKEN_USER, TokenUser, WELL_KNOWN_SID_TYPE, WinBuiltinAdministratorsSid,
    WinCreatorOwnerRightsSid, WinLocalSystemSid,
};
use windows_sys::Win32::Storage::FileSystem::{
    CREATE_NEW, CreateFileW, FILE_APPEND_DATA, FILE_ATTRIBUTE_NORMAL, FILE_READ_DATA,
    FILE_SHARE_DELETE, FILE_SHARE_READ, FILE_SHARE_WRITE, FILE_WRITE_DATA, WRITE_DAC, WRITE_OWNER,
};
use windows_sys::Win32::System::SystemServices::{
    ACCESS_ALLOWED_ACE_TYPE, ACCESS_ALLOWED_CALLBACK_ACE_TYPE,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

use crate::cli::error::{Error, Result};

/// Rights that let someone read the secret, change it, or give themselves access to it.
const READ_OR_WRITE: u32 = FILE_READ_DATA
    | FILE_WRITE_DATA
    | FILE_APPEND_DATA
    | WRITE_DAC
    | WRITE_OWNER
    | GENERIC_READ
    | GENERIC_WRITE
    | GENERIC_ALL;

/// Memory Windows allocated for us (security descriptors, SID strings), freed on drop.
struct Local(HLOCAL);

impl Drop for Local {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the pointer came from a Windows call that allocates with LocalAlloc.
            #[allow(unsafe_code)]
            unsafe {
                LocalFree(self.0)
            };
        }
    }
}

/// The user this process runs as: the SID in the token, kept in a buffer of ours.
struct CurrentUser {
    /// A TOKEN_USER followed by the SID it points to; u64 for its alignment.
    buf: Vec<u64>,
}

impl CurrentUser {
    fn get() -> io::Result<Self> {
        let mut token: HANDLE = std::ptr::null_mut();
        // SAFETY: the pseudo-handle of our process needs no closing; `token` is ours to fill.
        #[allow(unsafe_code)]
        if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = vec![0u64; 128];
        let mut len = 0u32;
        // SAFETY: the buffer is writable for the length given; the token is open.
        #[allow(unsafe_code)]
        let ok = unsafe {
            GetTokenInformation(
                token,
                TokenUser,
                buf.as_mut_ptr().cast(),
                (buf.len() * 8) as u32,
                &mut len,
            )
        };
        let err = io::Error::last_os_error();
        // SAFETY: the token was opened above and is not used after this.
        #[allow(unsafe_code)]
        unsafe {
            CloseHandle(token)
        };
        if ok == 0 {
            return Err(err);
        }
        Ok(Self { buf })
    }

    fn sid(&self) -> PSID {
        // SAFETY: GetTokenInformation(TokenUser) wrote a TOKEN_USER at the buffer's start.
        #[allow(unsafe_code)]
        unsafe {
            (*self.buf.as_ptr().cast::<TOKEN_USER>()).User.Sid
        }
    }

    /// The SID as text (`S-1-5-21-...`), for a security descriptor string.
    fn sid_string(&self) -> io::Result<String> {
        sid_string(self.sid()).ok_or_else(io::Error::last_os_error)
    }
}

fn sid_string(sid: PSID) -> Option<String> {
    let mut text: *mut u16 = std::ptr::null_mut();
    // SAFETY: `sid` points to a valid SID; Windows allocates the string, freed by `Local`.
    #[allow(unsafe_code)]
    if unsafe { ConvertSidToStringSidW(sid, &mut text) } == 0 {
        return None;
    }
    let _free = Local(text.cast());
    // SAFETY: the string is NUL-terminated and lives until `_free` drops.
    #[allow(unsafe_code)]
    let len = (0..).take_while(|&i| unsafe { *text.add(i) } != 0).count();
    #[allow(unsafe_code)]
    let units = unsafe { std::slice::from_raw_parts(text, len) };
    Some(String::from_utf16_lossy(units))
}

/// `DOMAIN\name` of an account, or its SID as text if it has no name here.
fn account_name(sid: PSID) -> String {
    let mut name = [0u16; 256];
    let mut domain = [0u16; 256];
    let (mut name_len, mut domain_len) = (name.len() as u32, domain.len() as u32);
    let mut kind: SID_NAME_USE = 0;
    // SAFETY: both buffers are writable for the lengths given; `sid` is a valid SID.
    #[allow(unsafe_code)]
    let ok = unsafe {
        LookupAccountSidW(
            std::ptr::null(),
            sid,
            name.as_mut_ptr(),
            &mut name_len,
            domain.as_mut_ptr(),
            &mut domain_len,
            &mut kind,
        )
    };
    if ok == 0 {
        return sid_string(sid).unwrap_or_else(|| "an unknown account".into());
    }
    let name = String::from_utf16_lossy(&name[..name_len as usize]);
    let domain = String::from_utf16_lossy(&domain[..domain_len as usize]);
    if domain.is_empty() {
        name
    } else {
        format!("{domain}\\{name}")
    }
}

fn wide(text: &OsStr) -> Vec<u16> {
    text.encode_wide().chain(std::iter::once(0)).collect()
}

/// Creates a new file (never an existing one) that only the user can open: its DACL is
/// set at creation (`SECURITY_ATTRIBUTES`), so there is no moment when the folder's
/// inherited permissions apply to it. `P` protects the DACL from inheritance; the one ACE
/// gives the user full access (`FA`).
pub(crate) fn create_private(path: &Path) -> io::Result<File> {
    let user = CurrentUser::get()?;
    let sddl = wide(OsStr::new(&format!("D:P(A;;FA;;;{})", user.sid_string()?)));
    let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: the string is NUL-terminated; Windows allocates the descriptor (freed below).
    #[allow(unsafe_code)]
    let ok = unsafe {
        ConvertStringSecurityDescriptorToSecurityDescriptorW(
            sddl.as_ptr(),
            SDDL_REVISION_1,
            &mut descriptor,
            std::ptr::null_mut(),
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    let _free = Local(descriptor);
    let attributes = SECURITY_ATTRIBUTES {
        nLength: size_of::<SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: descriptor,
        bInheritHandle: 0,
    };
    let name = wide(path.as_os_str());
    // Sharing: others are kept out by the DACL, and the rename into place (AtomicFile)
    // needs FILE_SHARE_DELETE on our own open handles.
    // SAFETY: the name is NUL-terminated, the attributes and descriptor outlive the call.
    #[allow(unsafe_code)]
    let handle = unsafe {
        CreateFileW(
            name.as_ptr(),
            GENERIC_READ | GENERIC_WRITE,
            FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
            &attributes,
            CREATE_NEW,
            FILE_ATTRIBUTE_NORMAL,
            std::ptr::null_mut(),
        )
    };
    if handle == INVALID_HANDLE_VALUE {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: CreateFileW returned a new handle that nothing else owns.
    #[allow(unsafe_code)]
    Ok(unsafe { File::from_raw_handle(handle) })
}

fn is_well_known(sid: PSID, kind: WELL_KNOWN_SID_TYPE) -> bool {
    // SAFETY: `sid` points to a valid SID.
    #[allow(unsafe_code)]
    unsafe {
        IsWellKnownSid(sid, kind) != 0
    }
}

/// The user, and those who can take any file on the machine anyway (SYSTEM and the
/// Administrators group; ssh for Windows accepts them too), and "the owner, whoever it is".
fn is_trusted(sid: PSID, user: &CurrentUser) -> bool {
    // SAFETY: both point to valid SIDs.
    #[allow(unsafe_code)]
    let is_user = unsafe { EqualSid(sid, user.sid()) != 0 };
    is_user
        || is_well_known(sid, WinLocalSystemSid)
        || is_well_known(sid, WinBuiltinAdministratorsSid)
        || is_well_known(sid, WinCreatorOwnerRightsSid)
}

/// Refuses a file that belongs to someone else or that someone else may read or write.
pub(crate) fn check_private(path: &Path, file: &File) -> Result<()> {
    let unreadable = |source| Error::Unreadable {
        path: path.to_owned(),
        source,
    };
    let user = CurrentUser::get().map_err(unreadable)?;
    let mut owner: PSID = std::ptr::null_mut();
    let mut dacl: *mut ACL = std::ptr::null_mut();
    let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: the handle is open; the out-pointers are ours and point into `descriptor`,
    // which Windows allocates and `_free` releases after the last use below.
    #[allow(unsafe_code)]
    let rc = unsafe {
        GetSecurityInfo(
            file.as_raw_handle(),
            SE_FILE_OBJECT,
            OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
            &mut owner,
            std::ptr::null_mut(),
            &mut dacl,
            std::ptr::null_mut(),
            &mut descriptor,
        )
    };
    if rc != ERROR_SUCCESS {
        return Err(unreadable(io::Error::from_raw_os_error(rc as i32)));
    }
    let _free = Local(descriptor);
    if owner.is_null() || !is_trusted(owner, &user) {
        return Err(Error::ForeignOwner {
            path: path.to_owned(),
            owner: if owner.is_null() {
                "nobody".into()
            } else {
                account_name(owner)
            },
        });
    }
    if dacl.is_null() {
        // No DACL at all: Windows lets everyone in.
        return Err(Error::SharedAccess {
            path: path.to_owned(),
            who: "Everyone".into(),
            me: account_name(user.sid()),
        });
    }
    // SAFETY: `dacl` points to the ACL inside the descriptor, valid until `_free` drops.
    #[allow(unsafe_code)]
    let count = unsafe { (*dacl).AceCount };
    for index in 0..u32::from(count) {
        let mut ace: *mut core::ffi::c_void = std::ptr::null_mut();
        // SAFETY: the index is below the ACL's count; `ace` receives a pointer into it.
        #[allow(unsafe_code)]
        if unsafe { GetAce(dacl, index, &mut ace) } == 0 {
            return Err(unreadable(io::Error::last_os_error()));
        }
        // SAFETY: every ACE starts with an ACE_HEADER.
        #[allow(unsafe_code)]
        let header = unsafe { *ace.cast::<ACE_HEADER>() };
        let allows = matches!(
            u32::from(header.AceType),
            ACCESS_ALLOWED_ACE_TYPE | ACCESS_ALLOWED_CALLBACK_ACE_TYPE
        );
        // Deny entries only take access away; inherit-only ones apply to children.
        if !allows || u32::from(header.AceFlags) & INHERIT_ONLY_ACE != 0 {
            continue;
        }
        // SAFETY: both allow types share ACCESS_ALLOWED_ACE's layout: header, mask, SID.
        #[allow(unsafe_code)]
        let (mask, sid) = unsafe {
            let allowed = ace.cast::<ACCESS_ALLOWED_ACE>();
            (
                (*allowed).Mask,
                std::ptr::addr_of_mut!((*allowed).SidStart).cast::<core::ffi::c_void>(),
            )
        };
        if mask & READ_OR_WRITE != 0 && !is_trusted(sid, &user) {
            return Err(Error::SharedAccess {
                path: path.to_owned(),
                who: account_name(sid),
                me: account_name(user.sid()),
            });
        }
    }
    Ok(())
}
