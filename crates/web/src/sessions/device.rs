//! Naming a browser for the account page's session list.

/// "Firefox on Linux" from a User-Agent header: enough for a user to recognise a session.
pub fn describe_device(user_agent: Option<&str>) -> Option<String> {
    let ua = user_agent?;
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name)
    .unwrap_or("Browser");
    let os = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    Some(match os {
        Some(os) => format!("{browser} on {os}"),
        None => browser.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::describe_device;

    #[test]
    fn devices_are_described_in_plain_words() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
        assert_eq!(
            describe_device(Some(chrome)).as_deref(),
            Some("Chrome on Linux")
        );
        let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(
            describe_device(Some(safari)).as_deref(),
            Some("Safari on iPhone")
        );
        assert_eq!(
            describe_device(Some("curl/8.0")).as_deref(),
            Some("Browser")
        );
        assert_eq!(describe_device(None), None);
    }
}
