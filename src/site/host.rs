//! TEMPORARY minimal host normalisation (replaced by the full module).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Host(String);
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("missing Host")]
    Missing,
    #[error("duplicate Host")]
    Duplicate,
    #[error("invalid Host {0:?}")]
    Invalid(String),
}
impl Host {
    pub fn parse(raw: &[u8]) -> Result<Host, HostError> {
        let s = std::str::from_utf8(raw)
            .map_err(|_| HostError::Invalid(String::from_utf8_lossy(raw).into()))?;
        let s = s
            .rsplit_once(':')
            .map(|(h, p)| {
                if p.chars().all(|c| c.is_ascii_digit()) {
                    h
                } else {
                    s
                }
            })
            .unwrap_or(s);
        let s = s.strip_suffix('.').unwrap_or(s);
        let a = idna::domain_to_ascii(s).map_err(|_| HostError::Invalid(s.into()))?;
        if a.is_empty()
            || !a
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-')
        {
            return Err(HostError::Invalid(s.into()));
        }
        Ok(Host(a))
    }
    pub fn from_request(
        authority: Option<&str>,
        host_headers: &[&[u8]],
    ) -> Result<Host, HostError> {
        if let Some(a) = authority {
            return Host::parse(a.as_bytes());
        }
        match host_headers {
            [] => Err(HostError::Missing),
            [h] => Host::parse(h),
            _ => Err(HostError::Duplicate),
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
