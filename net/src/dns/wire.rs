//! DNS messages (RFC 1035): the query we send and the parts of an answer
//! we read, A and AAAA records and CNAME chains.
//!
//! The decoder trusts nothing: every length is checked against the
//! message, compression pointers must point strictly backwards (so a
//! pointer loop cannot exist), names are limited to 255 bytes, and any
//! violation is [`Error::Malformed`], never a panic or a loop.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Record type of an IPv4 address.
pub(crate) const TYPE_A: u16 = 1;
/// Record type of an alias.
pub(crate) const TYPE_CNAME: u16 = 5;
/// Record type of an IPv6 address.
pub(crate) const TYPE_AAAA: u16 = 28;
/// The Internet class.
const CLASS_IN: u16 = 1;

/// Longest name in wire form (RFC 1035 2.3.4), terminating zero included.
const MAX_WIRE_NAME: usize = 255;
/// Longest name in text form without the final dot.
const MAX_TEXT_NAME: usize = 253;
/// Longest label.
const MAX_LABEL: usize = 63;
/// Longest CNAME chain followed inside one answer.
const MAX_CHAIN: usize = 16;
/// Largest query: header, longest name, type and class.
pub(crate) const MAX_QUERY: usize = 12 + MAX_WIRE_NAME + 4;

/// Response codes.
pub(crate) const RCODE_NOERROR: u8 = 0;
/// The name does not exist.
pub(crate) const RCODE_NXDOMAIN: u8 = 3;

/// Why an answer was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Error {
    /// Not an answer to our question (other id, not a response, other
    /// question): ignore it and keep waiting.
    Mismatch,
    /// Broken message: the server that sent it is failing.
    Malformed,
}

/// A domain name in wire form (length-prefixed labels ending with a zero
/// byte), lower-cased so that comparison is plain byte equality.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Name {
    buf: [u8; MAX_WIRE_NAME],
    len: usize,
}

impl std::fmt::Debug for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Name({})", self.to_text())
    }
}

impl Name {
    /// Parses a host name in text form, with or without the final dot.
    ///
    /// `EINVAL` when it is empty, longer than 253 bytes, has an empty label
    /// or one longer than 63 bytes, or holds a byte other than an ASCII
    /// letter, digit, `-` or `_`.
    pub(crate) fn from_text(text: &str) -> io::Result<Name> {
        let inval = || io::Error::from_raw_os_error(libc::EINVAL);
        let t = text.strip_suffix('.').unwrap_or(text);
        if t.is_empty() || t.len() > MAX_TEXT_NAME {
            return Err(inval());
        }
        let mut name = Name {
            buf: [0; MAX_WIRE_NAME],
            len: 0,
        };
        for label in t.split('.') {
            let ok = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_';
            if label.is_empty() || label.len() > MAX_LABEL || !label.bytes().all(|b| ok(&b)) {
                return Err(inval());
            }
            name.push_label(label.as_bytes()).map_err(|_| inval())?;
        }
        name.buf[name.len] = 0;
        name.len += 1;
        Ok(name)
    }

    /// Appends a label (not the terminating zero), lower-cased.
    fn push_label(&mut self, label: &[u8]) -> Result<(), Error> {
        // Room for the length byte, the label and the final zero.
        if label.is_empty()
            || label.len() > MAX_LABEL
            || self.len + 1 + label.len() + 1 > MAX_WIRE_NAME
        {
            return Err(Error::Malformed);
        }
        self.buf[self.len] = label.len() as u8;
        for (d, s) in self.buf[self.len + 1..].iter_mut().zip(label) {
            *d = s.to_ascii_lowercase();
        }
        self.len += 1 + label.len();
        Ok(())
    }

    /// The name in wire form.
    pub(crate) fn wire(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Number of dots in the text form (for `ndots`).
    pub(crate) fn labels(&self) -> usize {
        let mut n = 0;
        let mut i = 0;
        while i < self.len && self.buf[i] != 0 {
            n += 1;
            i += 1 + self.buf[i] as usize;
        }
        n
    }

    /// This name followed by `suffix`; `EINVAL` when the result is too long.
    pub(crate) fn join(&self, suffix: &Name) -> io::Result<Name> {
        let mut out = self.clone();
        out.len -= 1; // drop our terminating zero
        let inval = || io::Error::from_raw_os_error(libc::EINVAL);
        if out.len + suffix.len > MAX_WIRE_NAME {
            return Err(inval());
        }
        out.buf[out.len..out.len + suffix.len].copy_from_slice(suffix.wire());
        out.len += suffix.len;
        Ok(out)
    }

    /// The text form, without the final dot.
    pub(crate) fn to_text(&self) -> String {
        let mut s = String::new();
        let mut i = 0;
        while i < self.len && self.buf[i] != 0 {
            let l = self.buf[i] as usize;
            if !s.is_empty() {
                s.push('.');
            }
            s.extend(self.buf[i + 1..i + 1 + l].iter().map(|&b| b as char));
            i += 1 + l;
        }
        s
    }
}

/// Writes a recursive query for `name`/`qtype` with id `id` into `out`
/// and returns its length.
pub(crate) fn encode_query(id: u16, name: &Name, qtype: u16, out: &mut [u8; MAX_QUERY]) -> usize {
    let mut n = 0;
    let mut put = |bytes: &[u8]| {
        out[n..n + bytes.len()].copy_from_slice(bytes);
        n += bytes.len();
    };
    put(&id.to_be_bytes());
    put(&0x0100u16.to_be_bytes()); // standard query, recursion desired
    put(&1u16.to_be_bytes()); // one question
    put(&[0; 6]); // no answer, authority or additional records
    put(name.wire());
    put(&qtype.to_be_bytes());
    put(&CLASS_IN.to_be_bytes());
    n
}

/// What an answer says about our question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    /// The response code (low four bits of the header).
    pub(crate) rcode: u8,
    /// The server truncated the message (TC bit).
    pub(crate) truncated: bool,
    /// Addresses of the asked type for the name or the end of its CNAME
    /// chain, in the server's order.
    pub(crate) addrs: Vec<IpAddr>,
}

/// A bounds-checked reader over a message.
struct Reader<'a> {
    msg: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn u16(&mut self) -> Result<u16, Error> {
        let b = self
            .msg
            .get(self.pos..self.pos + 2)
            .ok_or(Error::Malformed)?;
        self.pos += 2;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, Error> {
        let hi = self.u16()? as u32;
        let lo = self.u16()? as u32;
        Ok(hi << 16 | lo)
    }

    fn bytes(&mut self, n: usize) -> Result<&[u8], Error> {
        let b = self
            .msg
            .get(self.pos..self.pos + n)
            .ok_or(Error::Malformed)?;
        self.pos += n;
        Ok(b)
    }

    /// Reads a possibly compressed name at the current position.
    fn name(&mut self) -> Result<Name, Error> {
        let (name, next) = read_name(self.msg, self.pos)?;
        self.pos = next;
        Ok(name)
    }
}

/// Reads the name starting at `start` in `msg`; returns it and the
/// position just after it (after the first pointer, if compressed).
///
/// Every compression pointer must point before the start of the labels
/// that led to it: targets strictly decrease, so the walk ends.
fn read_name(msg: &[u8], start: usize) -> Result<(Name, usize), Error> {
    let mut name = Name {
        buf: [0; MAX_WIRE_NAME],
        len: 0,
    };
    let mut pos = start;
    let mut segment = start;
    let mut end = None;
    loop {
        let len = *msg.get(pos).ok_or(Error::Malformed)? as usize;
        match len & 0xC0 {
            0x00 if len == 0 => {
                name.buf[name.len] = 0;
                name.len += 1;
                return Ok((name, end.unwrap_or(pos + 1)));
            }
            0x00 => {
                let label = msg.get(pos + 1..pos + 1 + len).ok_or(Error::Malformed)?;
                name.push_label(label)?;
                pos += 1 + len;
            }
            0xC0 => {
                let low = *msg.get(pos + 1).ok_or(Error::Malformed)? as usize;
                let target = (len & 0x3F) << 8 | low;
                if end.is_none() {
                    end = Some(pos + 2);
                }
                if target >= segment {
                    return Err(Error::Malformed);
                }
                segment = target;
                pos = target;
            }
            // 0x40 and 0x80: extended and reserved label types.
            _ => return Err(Error::Malformed),
        }
    }
}

/// Parses `msg` as the answer to query `id` for `qname`/`qtype`.
pub(crate) fn decode_answer(
    msg: &[u8],
    id: u16,
    qname: &Name,
    qtype: u16,
) -> Result<Answer, Error> {
    let mut r = Reader { msg, pos: 0 };
    // A message too short for a header cannot be matched to our query.
    let rid = r.u16().map_err(|_| Error::Mismatch)?;
    let flags = r.u16().map_err(|_| Error::Mismatch)?;
    if rid != id || flags & 0x8000 == 0 {
        return Err(Error::Mismatch);
    }
    let opcode = (flags >> 11) & 0xF;
    let truncated = flags & 0x0200 != 0;
    let rcode = (flags & 0xF) as u8;
    let qd = r.u16()?;
    let an = r.u16()?;
    let _ns = r.u16()?;
    let _ar = r.u16()?;
    if opcode != 0 {
        return Err(Error::Mismatch);
    }
    // Servers echo the question; some omit it in error answers.
    if qd > 1 {
        return Err(Error::Malformed);
    }
    if qd == 1 {
        let q = r.name().map_err(|_| Error::Mismatch)?;
        let t = r.u16().map_err(|_| Error::Mismatch)?;
        let c = r.u16().map_err(|_| Error::Mismatch)?;
        if q != *qname || t != qtype || c != CLASS_IN {
            return Err(Error::Mismatch);
        }
    } else if rcode == RCODE_NOERROR || rcode == RCODE_NXDOMAIN {
        // A definite answer must say what it answers.
        return Err(Error::Mismatch);
    }
    // The answer section: CNAMEs and addresses, kept aside until the
    // chain is known. A truncated message may end mid-record: keep what
    // came whole.
    let mut cnames: Vec<(Name, Name)> = Vec::new();
    let mut found: Vec<(Name, IpAddr)> = Vec::new();
    for _ in 0..an {
        match record(&mut r, qtype) {
            Ok(Some(Rec::Cname(owner, target))) => cnames.push((owner, target)),
            Ok(Some(Rec::Addr(owner, ip))) => found.push((owner, ip)),
            Ok(None) => {}
            Err(_) if truncated => break,
            Err(e) => return Err(e),
        }
    }
    // Follow the chain from the question's name.
    let mut chain: Vec<&Name> = vec![qname];
    while chain.len() <= MAX_CHAIN {
        let cur = chain[chain.len() - 1];
        match cnames.iter().find(|(o, _)| o == cur) {
            Some((_, t)) if !chain.contains(&t) => chain.push(t),
            _ => break,
        }
    }
    let addrs = found
        .iter()
        .filter(|(o, _)| chain.contains(&o))
        .map(|(_, ip)| *ip)
        .collect();
    Ok(Answer {
        rcode,
        truncated,
        addrs,
    })
}

/// One record of interest; short-lived, so its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Rec {
    Cname(Name, Name),
    Addr(Name, IpAddr),
}

/// Reads one resource record; `None` for records of no interest.
fn record(r: &mut Reader<'_>, qtype: u16) -> Result<Option<Rec>, Error> {
    let owner = r.name()?;
    let rtype = r.u16()?;
    let class = r.u16()?;
    let _ttl = r.u32()?;
    let rdlen = r.u16()? as usize;
    let start = r.pos;
    let rdata = r.bytes(rdlen)?;
    if class != CLASS_IN {
        return Ok(None);
    }
    match rtype {
        TYPE_A if qtype == TYPE_A => {
            let b: [u8; 4] = rdata.try_into().map_err(|_| Error::Malformed)?;
            Ok(Some(Rec::Addr(owner, Ipv4Addr::from(b).into())))
        }
        TYPE_AAAA if qtype == TYPE_AAAA => {
            let b: [u8; 16] = rdata.try_into().map_err(|_| Error::Malformed)?;
            Ok(Some(Rec::Addr(owner, Ipv6Addr::from(b).into())))
        }
        TYPE_CNAME => {
            let (target, end) = read_name(r.msg, start)?;
            if end != start + rdlen {
                return Err(Error::Malformed);
            }
            Ok(Some(Rec::Cname(owner, target)))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds answers for the tests (also used by the resolver's tests).
    pub(crate) struct Builder {
        pub(crate) msg: Vec<u8>,
    }

    impl Builder {
        pub(crate) fn new(id: u16, flags: u16, qname: &str, qtype: u16, an: u16) -> Builder {
            let mut msg = Vec::new();
            msg.extend_from_slice(&id.to_be_bytes());
            msg.extend_from_slice(&flags.to_be_bytes());
            msg.extend_from_slice(&1u16.to_be_bytes());
            msg.extend_from_slice(&an.to_be_bytes());
            msg.extend_from_slice(&[0; 4]);
            msg.extend_from_slice(Name::from_text(qname).unwrap().wire());
            msg.extend_from_slice(&qtype.to_be_bytes());
            msg.extend_from_slice(&CLASS_IN.to_be_bytes());
            Builder { msg }
        }

        /// A record whose owner is the compressed pointer to the question.
        pub(crate) fn rr_ptr(&mut self, rtype: u16, rdata: &[u8]) -> &mut Builder {
            self.msg.extend_from_slice(&[0xC0, 12]);
            self.rr_tail(rtype, rdata)
        }

        pub(crate) fn rr(&mut self, owner: &str, rtype: u16, rdata: &[u8]) -> &mut Builder {
            self.msg
                .extend_from_slice(Name::from_text(owner).unwrap().wire());
            self.rr_tail(rtype, rdata)
        }

        fn rr_tail(&mut self, rtype: u16, rdata: &[u8]) -> &mut Builder {
            self.msg.extend_from_slice(&rtype.to_be_bytes());
            self.msg.extend_from_slice(&CLASS_IN.to_be_bytes());
            self.msg.extend_from_slice(&300u32.to_be_bytes());
            self.msg
                .extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            self.msg.extend_from_slice(rdata);
            self
        }
    }

    fn name(s: &str) -> Name {
        Name::from_text(s).unwrap()
    }

    fn einval(s: &str) -> bool {
        match Name::from_text(s) {
            Ok(_) => false,
            Err(e) => e.raw_os_error() == Some(libc::EINVAL),
        }
    }

    #[test]
    fn names_from_text() {
        assert_eq!(name("Example.ORG").wire(), b"\x07example\x03org\x00");
        assert_eq!(name("example.org.").wire(), b"\x07example\x03org\x00");
        assert_eq!(name("a_b-c").wire(), b"\x05a_b-c\x00");
        assert_eq!(name("a.b.c").labels(), 3);
        assert_eq!(name("a.b.c").to_text(), "a.b.c");
        assert!(einval(""));
        assert!(einval("."));
        assert!(einval("a..b"));
        assert!(einval(".a"));
        assert!(einval("a b"));
        assert!(einval("a\0b"));
        assert!(einval("\u{e9}t\u{e9}.fr"));
        assert!(einval(&"a".repeat(64)));
        assert!(!einval(&"a".repeat(63)));
        // 253 bytes is the longest name; 254 is too long.
        let long = [
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61),
        ]
        .join(".");
        assert_eq!(long.len(), 253);
        assert!(!einval(&long));
        assert!(!einval(&format!("{long}.")));
        assert!(einval(&format!("{long}e")));
    }

    #[test]
    fn join_respects_the_limit() {
        let a = name(&"a".repeat(63));
        let b = name(&["b".repeat(63), "c".repeat(63), "d".repeat(61)].join("."));
        assert_eq!(a.join(&b).unwrap().to_text().len(), 253);
        let c = name(&["b".repeat(63), "c".repeat(63), "d".repeat(62)].join("."));
        assert!(a.join(&c).is_err());
        assert_eq!(
            name("www").join(&name("example.org")).unwrap(),
            name("www.example.org")
        );
    }

    #[test]
    fn query_layout() {
        let mut buf = [0u8; MAX_QUERY];
        let n = encode_query(0xBEEF, &name("a.bc"), TYPE_AAAA, &mut buf);
        assert_eq!(
            &buf[..n],
            b"\xBE\xEF\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x02bc\x00\x00\x1C\x00\x01"
        );
    }

    #[test]
    fn plain_answer() {
        let mut b = Builder::new(7, 0x8180, "host.test", TYPE_A, 2);
        b.rr_ptr(TYPE_A, &[10, 0, 0, 1])
            .rr("host.test", TYPE_A, &[10, 0, 0, 2]);
        let a = decode_answer(&b.msg, 7, &name("HOST.test"), TYPE_A).unwrap();
        assert_eq!(a.rcode, 0);
        assert!(!a.truncated);
        assert_eq!(
            a.addrs,
            vec![IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2])]
        );
    }

    #[test]
    fn aaaa_answer_ignores_other_types() {
        let mut b = Builder::new(1, 0x8180, "h.test", TYPE_AAAA, 3);
        let v6 = Ipv6Addr::LOCALHOST.octets();
        b.rr_ptr(TYPE_A, &[1, 2, 3, 4])
            .rr_ptr(16, b"\x03txt")
            .rr_ptr(TYPE_AAAA, &v6);
        let a = decode_answer(&b.msg, 1, &name("h.test"), TYPE_AAAA).unwrap();
        assert_eq!(a.addrs, vec![IpAddr::from(Ipv6Addr::LOCALHOST)]);
    }

    #[test]
    fn cname_chain() {
        let mut b = Builder::new(1, 0x8180, "www.test", TYPE_A, 4);
        b.rr("other.test", TYPE_A, &[9, 9, 9, 9]) // not on the chain
            .rr_ptr(TYPE_CNAME, name("mid.test").wire())
            .rr("mid.test", TYPE_CNAME, b"\x03end\xC0\x10") // compressed: end + "test"
            .rr("end.test", TYPE_A, &[5, 6, 7, 8]);
        let a = decode_answer(&b.msg, 1, &name("www.test"), TYPE_A).unwrap();
        assert_eq!(a.addrs, vec![IpAddr::from([5, 6, 7, 8])]);
    }

    #[test]
    fn cname_loop_is_no_data_not_a_hang() {
        let mut b = Builder::new(1, 0x8180, "a.test", TYPE_A, 2);
        b.rr("a.test", TYPE_CNAME, name("b.test").wire()).rr(
            "b.test",
            TYPE_CNAME,
            name("a.test").wire(),
        );
        let a = decode_answer(&b.msg, 1, &name("a.test"), TYPE_A).unwrap();
        assert!(a.addrs.is_empty());
    }

    #[test]
    fn nxdomain_and_mismatches() {
        let b = Builder::new(3, 0x8183, "no.test", TYPE_A, 0);
        let a = decode_answer(&b.msg, 3, &name("no.test"), TYPE_A).unwrap();
        assert_eq!(a.rcode, RCODE_NXDOMAIN);
        let q = name("no.test");
        assert_eq!(decode_answer(&b.msg, 4, &q, TYPE_A), Err(Error::Mismatch));
        assert_eq!(
            decode_answer(&b.msg, 3, &q, TYPE_AAAA),
            Err(Error::Mismatch)
        );
        assert_eq!(
            decode_answer(&b.msg, 3, &name("yes.test"), TYPE_A),
            Err(Error::Mismatch)
        );
        // A query (QR clear) is not an answer.
        let q2 = Builder::new(3, 0x0100, "no.test", TYPE_A, 0);
        assert_eq!(decode_answer(&q2.msg, 3, &q, TYPE_A), Err(Error::Mismatch));
        assert_eq!(decode_answer(&[], 3, &q, TYPE_A), Err(Error::Mismatch));
        assert_eq!(
            decode_answer(&[0, 3, 0x81], 3, &q, TYPE_A),
            Err(Error::Mismatch)
        );
    }

    #[test]
    fn truncated_keeps_whole_records() {
        let mut b = Builder::new(1, 0x8380, "t.test", TYPE_A, 3);
        b.rr_ptr(TYPE_A, &[1, 1, 1, 1])
            .rr_ptr(TYPE_A, &[2, 2, 2, 2]);
        // The third record is cut short.
        b.msg.extend_from_slice(&[0xC0, 12, 0, 1]);
        let a = decode_answer(&b.msg, 1, &name("t.test"), TYPE_A).unwrap();
        assert!(a.truncated);
        assert_eq!(a.addrs.len(), 2);
        // Without the TC bit the same message is broken.
        b.msg[2] = 0x81;
        assert_eq!(
            decode_answer(&b.msg, 1, &name("t.test"), TYPE_A),
            Err(Error::Malformed)
        );
    }

    #[test]
    fn compression_loops_are_errors() {
        let q = name("x.test");
        // A pointer to itself as the owner of the answer.
        let mut b = Builder::new(1, 0x8180, "x.test", TYPE_A, 1);
        let at = b.msg.len() as u16;
        b.msg.extend_from_slice(&(0xC000 | at).to_be_bytes());
        b.msg
            .extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 1, 2, 3, 4]);
        assert_eq!(decode_answer(&b.msg, 1, &q, TYPE_A), Err(Error::Malformed));
        // Two names pointing at each other: the second points forward.
        let mut b = Builder::new(1, 0x8180, "x.test", TYPE_A, 1);
        let at = b.msg.len() as u16;
        b.msg.extend_from_slice(&[1, b'a']);
        b.msg.extend_from_slice(&(0xC000 | (at + 4)).to_be_bytes());
        b.msg.extend_from_slice(&[1, b'b']);
        b.msg.extend_from_slice(&(0xC000 | at).to_be_bytes());
        assert_eq!(decode_answer(&b.msg, 1, &q, TYPE_A), Err(Error::Malformed));
        // A pointer in the question pointing to itself.
        let mut m = vec![
            0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1,
        ];
        assert_eq!(decode_answer(&m, 1, &q, TYPE_A), Err(Error::Mismatch));
        // A pointer past the end.
        m[13] = 200;
        assert_eq!(decode_answer(&m, 1, &q, TYPE_A), Err(Error::Mismatch));
    }

    #[test]
    fn names_too_long_are_errors() {
        // 5 labels of 63 bytes, each pointing back to the previous: over
        // 255 bytes once expanded.
        let mut b = Builder::new(1, 0x8180, "x.test", TYPE_A, 1);
        let mut prev: Option<u16> = None;
        let base = b.msg.len();
        for _ in 0..5 {
            let at = b.msg.len() as u16;
            b.msg.push(63);
            b.msg.extend_from_slice(&[b'a'; 63]);
            match prev {
                Some(p) => b.msg.extend_from_slice(&(0xC000 | p).to_be_bytes()),
                None => b.msg.push(0),
            }
            prev = Some(at);
        }
        assert!(read_name(&b.msg, prev.unwrap() as usize).is_err());
        assert!(read_name(&b.msg, base).is_ok());
    }

    #[test]
    fn broken_records_are_errors() {
        let q = name("r.test");
        // rdlength past the end.
        let mut b = Builder::new(1, 0x8180, "r.test", TYPE_A, 1);
        b.msg
            .extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 9, 1, 2]);
        assert_eq!(decode_answer(&b.msg, 1, &q, TYPE_A), Err(Error::Malformed));
        // An A record with 5 bytes of data.
        let mut b = Builder::new(1, 0x8180, "r.test", TYPE_A, 1);
        b.rr_ptr(TYPE_A, &[1, 2, 3, 4, 5]);
        assert_eq!(decode_answer(&b.msg, 1, &q, TYPE_A), Err(Error::Malformed));
        // More answers announced than present.
        let mut b = Builder::new(1, 0x8180, "r.test", TYPE_A, 2);
        b.rr_ptr(TYPE_A, &[1, 2, 3, 4]);
        assert_eq!(decode_answer(&b.msg, 1, &q, TYPE_A), Err(Error::Malformed));
        // Reserved label type.
        let mut b = Builder::new(1, 0x8180, "r.test", TYPE_A, 1);
        b.msg.extend_from_slice(&[0x40, 0, 1, 0, 1]);
        assert_eq!(decode_answer(&b.msg, 1, &q, TYPE_A), Err(Error::Malformed));
        // A CNAME whose name runs past its rdata.
        let mut b = Builder::new(1, 0x8180, "r.test", TYPE_A, 1);
        b.rr_ptr(TYPE_CNAME, b"\x03abc");
        b.msg.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(decode_answer(&b.msg, 1, &q, TYPE_A), Err(Error::Malformed));
    }

    #[test]
    fn every_prefix_and_byte_flip_is_handled() {
        // Exhaustive small fuzz: every truncation and every single-byte
        // change of a valid answer decodes to something or an error.
        let mut b = Builder::new(9, 0x8180, "www.test", TYPE_A, 2);
        b.rr_ptr(TYPE_CNAME, b"\x03end\xC0\x10")
            .rr("end.test", TYPE_A, &[1, 2, 3, 4]);
        let q = name("www.test");
        for n in 0..b.msg.len() {
            let _ = decode_answer(&b.msg[..n], 9, &q, TYPE_A);
        }
        for i in 0..b.msg.len() {
            for v in [0u8, 1, 0x3F, 0x40, 0x80, 0xC0, 0xFF, 12] {
                let mut m = b.msg.clone();
                m[i] = v;
                let _ = decode_answer(&m, 9, &q, TYPE_A);
            }
        }
    }
}
