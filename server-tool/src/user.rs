//! Who runs hush-run, for the sealed metadata and the audit line. The name comes from the
//! real uid and /etc/passwd, not from $USER, which anyone can set.

/// The real uid.
pub fn uid() -> u32 {
    rustix::process::getuid().as_raw()
}

/// The user name of the real uid, or `uid N` if it has none.
pub fn name() -> String {
    let uid = uid();
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| lookup(&passwd, uid))
        .unwrap_or_else(|| format!("uid {uid}"))
}

fn lookup(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id: u32 = fields.nth(1)?.parse().ok()?;
        (id == uid && !name.is_empty()).then(|| name.to_owned())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_name_of_a_uid() {
        let passwd =
            "root:x:0:0:root:/root:/bin/bash\n# odd\nalice:x:1000:1000::/home/alice:/bin/sh\n";
        assert_eq!(super::lookup(passwd, 1000).as_deref(), Some("alice"));
        assert_eq!(super::lookup(passwd, 0).as_deref(), Some("root"));
        assert_eq!(super::lookup(passwd, 7), None);
    }
}
