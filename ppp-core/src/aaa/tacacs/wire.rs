//! TACACS+ packets (RFC 8907 §4-§7): the 12-octet header, body
//! obfuscation (§4.5), and the authentication, authorization and
//! accounting bodies, both directions (the server side is used by tests
//! and fuzzing).

use md5::Md5;

use crate::auth::crypto::digest_scrubbed;

use super::Error;

/// Header length (RFC 8907 §4.1).
pub const HEADER_LEN: usize = 12;
/// Largest body this implementation accepts. RFC 8907 allows 2^32 − 1;
/// every packet a PPTP NAS exchanges fits easily, and a bound keeps the
/// reassembly buffer fixed.
pub const MAX_BODY_LEN: usize = 4096;
/// Major version 0xc (RFC 8907 §4.1).
pub const MAJOR_VERSION: u8 = 0xc;
/// Header flag: body not obfuscated (§4.1; refused by this client).
pub const FLAG_UNENCRYPTED: u8 = 0x01;
/// Header flag: single connection mode (§4.3).
pub const FLAG_SINGLE_CONNECT: u8 = 0x04;
/// Most arguments in one authorization/accounting packet we parse.
pub const MAX_ARGS: usize = 32;

/// Packet type (RFC 8907 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PacketType {
    /// Authentication (1).
    Authentication,
    /// Authorization (2).
    Authorization,
    /// Accounting (3).
    Accounting,
}

impl PacketType {
    /// The type octet.
    pub const fn as_u8(self) -> u8 {
        match self {
            PacketType::Authentication => 1,
            PacketType::Authorization => 2,
            PacketType::Accounting => 3,
        }
    }

    /// The type for an octet.
    pub const fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(PacketType::Authentication),
            2 => Some(PacketType::Authorization),
            3 => Some(PacketType::Accounting),
            _ => None,
        }
    }
}

/// authen_type (RFC 8907 §5.1).
pub mod authen_type {
    /// ASCII.
    pub const ASCII: u8 = 1;
    /// PAP.
    pub const PAP: u8 = 2;
    /// CHAP.
    pub const CHAP: u8 = 3;
    /// MS-CHAPv1.
    pub const MSCHAP: u8 = 5;
    /// MS-CHAPv2.
    pub const MSCHAPV2: u8 = 6;
}

/// authen_service PPP (RFC 8907 §5.1).
pub const AUTHEN_SERVICE_PPP: u8 = 3;
/// action LOGIN (RFC 8907 §5.1).
pub const ACTION_LOGIN: u8 = 1;
/// authen_method TACACSPLUS (RFC 8907 §6.1).
pub const AUTHEN_METHOD_TACACSPLUS: u8 = 6;

/// Authentication REPLY status (RFC 8907 §5.2).
pub mod authen_status {
    /// PASS.
    pub const PASS: u8 = 1;
    /// FAIL.
    pub const FAIL: u8 = 2;
    /// GETDATA.
    pub const GETDATA: u8 = 3;
    /// GETUSER.
    pub const GETUSER: u8 = 4;
    /// GETPASS.
    pub const GETPASS: u8 = 5;
    /// RESTART.
    pub const RESTART: u8 = 6;
    /// ERROR.
    pub const ERROR: u8 = 7;
    /// FOLLOW.
    pub const FOLLOW: u8 = 0x21;
}

/// Authorization RESPONSE status (RFC 8907 §6.2).
pub mod author_status {
    /// PASS_ADD.
    pub const PASS_ADD: u8 = 1;
    /// PASS_REPL.
    pub const PASS_REPL: u8 = 2;
    /// FAIL.
    pub const FAIL: u8 = 0x10;
    /// ERROR.
    pub const ERROR: u8 = 0x11;
    /// FOLLOW.
    pub const FOLLOW: u8 = 0x21;
}

/// Accounting flags and REPLY status (RFC 8907 §7.1, §7.2).
pub mod acct {
    /// START record.
    pub const FLAG_START: u8 = 0x02;
    /// STOP record.
    pub const FLAG_STOP: u8 = 0x04;
    /// WATCHDOG (interim) record.
    pub const FLAG_WATCHDOG: u8 = 0x08;
    /// SUCCESS.
    pub const STATUS_SUCCESS: u8 = 1;
    /// ERROR.
    pub const STATUS_ERROR: u8 = 2;
    /// FOLLOW.
    pub const STATUS_FOLLOW: u8 = 0x21;
}

/// The 12-octet header (RFC 8907 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Header {
    /// Major (high nibble) and minor version.
    pub version: u8,
    /// Packet type octet.
    pub packet_type: u8,
    /// Sequence number: 1 for the first packet of a session, odd from the
    /// client, even from the server.
    pub seq_no: u8,
    /// Flags.
    pub flags: u8,
    /// Session id (random, from the host).
    pub session_id: u32,
    /// Body length.
    pub length: u32,
}

impl Header {
    /// Parses a header; checks the major version and the body bound.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let h = bytes
            .get(..HEADER_LEN)
            .ok_or(Error::Truncated { len: bytes.len() })?;
        let header = Header {
            version: h[0],
            packet_type: h[1],
            seq_no: h[2],
            flags: h[3],
            session_id: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
            length: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
        };
        if header.version >> 4 != MAJOR_VERSION {
            return Err(Error::BadVersion {
                version: header.version,
            });
        }
        if PacketType::from_u8(header.packet_type).is_none() {
            return Err(Error::UnknownType {
                packet_type: header.packet_type,
            });
        }
        if header.length as usize > MAX_BODY_LEN {
            return Err(Error::Oversized {
                length: header.length,
            });
        }
        Ok(header)
    }

    /// Writes the header into `out[..12]`.
    pub fn emit(&self, out: &mut [u8]) -> Result<(), Error> {
        let h = out
            .get_mut(..HEADER_LEN)
            .ok_or(Error::BufferTooSmall { needed: HEADER_LEN })?;
        h[0] = self.version;
        h[1] = self.packet_type;
        h[2] = self.seq_no;
        h[3] = self.flags;
        h[4..8].copy_from_slice(&self.session_id.to_be_bytes());
        h[8..12].copy_from_slice(&self.length.to_be_bytes());
        Ok(())
    }
}

/// XORs `body` with the MD5 pseudo-pad of RFC 8907 §4.5:
/// MD5_1 = MD5(session_id | key | version | seq_no),
/// MD5_n = MD5(session_id | key | version | seq_no | MD5_n−1).
/// Obfuscation and de-obfuscation are the same operation.
pub fn obfuscate(header: &Header, key: &[u8], body: &mut [u8]) {
    let mut previous: Option<[u8; 16]> = None;
    for chunk in body.chunks_mut(16) {
        // The key is secret: digest_scrubbed wipes the hasher after use.
        let session_id = header.session_id.to_be_bytes();
        let previous_pad = previous.as_ref().map_or(&[][..], |p| &p[..]);
        let pad: [u8; 16] = digest_scrubbed::<Md5>(&[
            &session_id,
            key,
            &[header.version, header.seq_no],
            previous_pad,
        ])
        .into();
        for (b, p) in chunk.iter_mut().zip(pad.iter()) {
            *b ^= p;
        }
        previous = Some(pad);
    }
}

/// Writes fields one after another into a buffer, with bounds checks.
struct Cursor<'b> {
    buf: &'b mut [u8],
    at: usize,
}

impl<'b> Cursor<'b> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let end = self.at + bytes.len();
        self.buf
            .get_mut(self.at..end)
            .ok_or(Error::BufferTooSmall { needed: end })?
            .copy_from_slice(bytes);
        self.at = end;
        Ok(())
    }
}

/// Reads fields one after another; every read is checked.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], Error> {
        let end = self.at.checked_add(n).ok_or(Error::BadBody { field })?;
        let out = self
            .bytes
            .get(self.at..end)
            .ok_or(Error::BadBody { field })?;
        self.at = end;
        Ok(out)
    }
    fn u8(&mut self, field: &'static str) -> Result<u8, Error> {
        Ok(self.take(1, field)?.first().copied().unwrap_or(0))
    }
    fn u16(&mut self, field: &'static str) -> Result<u16, Error> {
        let b = self.take(2, field)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn finish(&self) -> Result<(), Error> {
        if self.at == self.bytes.len() {
            Ok(())
        } else {
            Err(Error::BadBody {
                field: "trailing octets",
            })
        }
    }
}

fn len_u8(v: &[u8], field: &'static str) -> Result<u8, Error> {
    u8::try_from(v.len()).map_err(|_| Error::FieldTooLong {
        field,
        length: v.len(),
    })
}

fn len_u16(v: &[u8], field: &'static str) -> Result<u16, Error> {
    u16::try_from(v.len()).map_err(|_| Error::FieldTooLong {
        field,
        length: v.len(),
    })
}

/// Authentication START body (RFC 8907 §5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthenStart<'a> {
    /// Action (LOGIN).
    pub action: u8,
    /// Privilege level.
    pub priv_lvl: u8,
    /// authen_type.
    pub authen_type: u8,
    /// authen_service (PPP).
    pub authen_service: u8,
    /// User name.
    pub user: &'a [u8],
    /// Port name.
    pub port: &'a [u8],
    /// Remote address (the PPTP client).
    pub rem_addr: &'a [u8],
    /// Type-specific data (password, CHAP id/challenge/response).
    pub data: &'a [u8],
}

impl<'a> AuthenStart<'a> {
    /// Writes the body; returns its length.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, Error> {
        let mut c = Cursor { buf: out, at: 0 };
        c.put(&[
            self.action,
            self.priv_lvl,
            self.authen_type,
            self.authen_service,
            len_u8(self.user, "user")?,
            len_u8(self.port, "port")?,
            len_u8(self.rem_addr, "rem_addr")?,
            len_u8(self.data, "data")?,
        ])?;
        c.put(self.user)?;
        c.put(self.port)?;
        c.put(self.rem_addr)?;
        c.put(self.data)?;
        Ok(c.at)
    }

    /// Parses a body.
    pub fn parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader { bytes: body, at: 0 };
        let f = r.take(8, "start fields")?;
        let s = AuthenStart {
            action: f[0],
            priv_lvl: f[1],
            authen_type: f[2],
            authen_service: f[3],
            user: r.take(usize::from(f[4]), "user")?,
            port: r.take(usize::from(f[5]), "port")?,
            rem_addr: r.take(usize::from(f[6]), "rem_addr")?,
            data: r.take(usize::from(f[7]), "data")?,
        };
        r.finish()?;
        Ok(s)
    }
}

/// Authentication REPLY body (RFC 8907 §5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthenReply<'a> {
    /// Status.
    pub status: u8,
    /// Flags (0x01 NOECHO).
    pub flags: u8,
    /// Message for the user.
    pub server_msg: &'a [u8],
    /// Data.
    pub data: &'a [u8],
}

impl<'a> AuthenReply<'a> {
    /// Parses a body.
    pub fn parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader { bytes: body, at: 0 };
        let status = r.u8("status")?;
        let flags = r.u8("flags")?;
        let msg_len = r.u16("server_msg_len")?;
        let data_len = r.u16("data_len")?;
        let reply = AuthenReply {
            status,
            flags,
            server_msg: r.take(usize::from(msg_len), "server_msg")?,
            data: r.take(usize::from(data_len), "data")?,
        };
        r.finish()?;
        Ok(reply)
    }

    /// Writes the body (server side).
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, Error> {
        let mut c = Cursor { buf: out, at: 0 };
        c.put(&[self.status, self.flags])?;
        c.put(&len_u16(self.server_msg, "server_msg")?.to_be_bytes())?;
        c.put(&len_u16(self.data, "data")?.to_be_bytes())?;
        c.put(self.server_msg)?;
        c.put(self.data)?;
        Ok(c.at)
    }
}

/// Authentication CONTINUE body (RFC 8907 §5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthenContinue<'a> {
    /// The user's answer (e.g. the password after GETPASS).
    pub user_msg: &'a [u8],
    /// Data.
    pub data: &'a [u8],
    /// Flags (0x01 ABORT).
    pub flags: u8,
}

impl<'a> AuthenContinue<'a> {
    /// Writes the body.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, Error> {
        let mut c = Cursor { buf: out, at: 0 };
        c.put(&len_u16(self.user_msg, "user_msg")?.to_be_bytes())?;
        c.put(&len_u16(self.data, "data")?.to_be_bytes())?;
        c.put(&[self.flags])?;
        c.put(self.user_msg)?;
        c.put(self.data)?;
        Ok(c.at)
    }

    /// Parses a body.
    pub fn parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader { bytes: body, at: 0 };
        let user_len = r.u16("user_msg_len")?;
        let data_len = r.u16("data_len")?;
        let flags = r.u8("flags")?;
        let c = AuthenContinue {
            user_msg: r.take(usize::from(user_len), "user_msg")?,
            data: r.take(usize::from(data_len), "data")?,
            flags,
        };
        r.finish()?;
        Ok(c)
    }
}

/// A bounded list of arguments ("name=value" or "name*value", RFC 8907
/// §6.1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Args<'a> {
    items: heapless::Vec<&'a [u8], MAX_ARGS>,
}

impl<'a> Args<'a> {
    /// An empty list.
    pub fn new() -> Self {
        Args {
            items: heapless::Vec::new(),
        }
    }

    /// Appends an argument.
    pub fn push(&mut self, arg: &'a [u8]) -> Result<(), Error> {
        self.items.push(arg).map_err(|_| Error::TooManyArgs)
    }

    /// The arguments.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.items.iter().copied()
    }

    /// Number of arguments.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The value of the first argument named `name` (mandatory `=` or
    /// optional `*`).
    pub fn get(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.iter().find_map(|a| {
            let rest = a.strip_prefix(name)?;
            match rest.split_first() {
                Some((b'=' | b'*', value)) => Some(value),
                _ => None,
            }
        })
    }

    fn lens(&self, c: &mut Cursor<'_>) -> Result<(), Error> {
        for a in self.iter() {
            c.put(&[len_u8(a, "arg")?])?;
        }
        Ok(())
    }

    fn values(&self, c: &mut Cursor<'_>) -> Result<(), Error> {
        for a in self.iter() {
            c.put(a)?;
        }
        Ok(())
    }

    fn read(r: &mut Reader<'a>, lens: &[u8]) -> Result<Self, Error> {
        let mut args = Args::new();
        for &l in lens {
            args.push(r.take(usize::from(l), "arg")?)?;
        }
        Ok(args)
    }
}

/// The fields shared by authorization and accounting requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestInfo<'a> {
    /// authen_method.
    pub authen_method: u8,
    /// Privilege level.
    pub priv_lvl: u8,
    /// authen_type.
    pub authen_type: u8,
    /// authen_service.
    pub authen_service: u8,
    /// User name.
    pub user: &'a [u8],
    /// Port name.
    pub port: &'a [u8],
    /// Remote address.
    pub rem_addr: &'a [u8],
}

impl<'a> RequestInfo<'a> {
    fn emit(&self, c: &mut Cursor<'_>, args: &Args<'_>) -> Result<(), Error> {
        c.put(&[
            self.authen_method,
            self.priv_lvl,
            self.authen_type,
            self.authen_service,
            len_u8(self.user, "user")?,
            len_u8(self.port, "port")?,
            len_u8(self.rem_addr, "rem_addr")?,
            u8::try_from(args.len()).map_err(|_| Error::TooManyArgs)?,
        ])?;
        args.lens(c)?;
        c.put(self.user)?;
        c.put(self.port)?;
        c.put(self.rem_addr)?;
        args.values(c)
    }

    fn parse(r: &mut Reader<'a>) -> Result<(Self, Args<'a>), Error> {
        let f = r.take(8, "request fields")?;
        let lens = r.take(usize::from(f[7]), "arg lengths")?;
        let info = RequestInfo {
            authen_method: f[0],
            priv_lvl: f[1],
            authen_type: f[2],
            authen_service: f[3],
            user: r.take(usize::from(f[4]), "user")?,
            port: r.take(usize::from(f[5]), "port")?,
            rem_addr: r.take(usize::from(f[6]), "rem_addr")?,
        };
        let args = Args::read(r, lens)?;
        Ok((info, args))
    }
}

/// Authorization REQUEST body (RFC 8907 §6.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorRequest<'a> {
    /// Who and how.
    pub info: RequestInfo<'a>,
    /// Arguments ("service=ppp", "protocol=ip").
    pub args: Args<'a>,
}

impl<'a> AuthorRequest<'a> {
    /// Writes the body.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, Error> {
        let mut c = Cursor { buf: out, at: 0 };
        self.info.emit(&mut c, &self.args)?;
        Ok(c.at)
    }

    /// Parses a body.
    pub fn parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader { bytes: body, at: 0 };
        let (info, args) = RequestInfo::parse(&mut r)?;
        r.finish()?;
        Ok(AuthorRequest { info, args })
    }
}

/// Authorization RESPONSE body (RFC 8907 §6.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorResponse<'a> {
    /// Status.
    pub status: u8,
    /// Message for the user.
    pub server_msg: &'a [u8],
    /// Data (administrative log).
    pub data: &'a [u8],
    /// Arguments (e.g. "addr=192.0.2.10").
    pub args: Args<'a>,
}

impl<'a> AuthorResponse<'a> {
    /// Parses a body.
    pub fn parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader { bytes: body, at: 0 };
        let status = r.u8("status")?;
        let arg_cnt = r.u8("arg_cnt")?;
        let msg_len = r.u16("server_msg_len")?;
        let data_len = r.u16("data_len")?;
        let lens = r.take(usize::from(arg_cnt), "arg lengths")?;
        let server_msg = r.take(usize::from(msg_len), "server_msg")?;
        let data = r.take(usize::from(data_len), "data")?;
        let args = Args::read(&mut r, lens)?;
        r.finish()?;
        Ok(AuthorResponse {
            status,
            server_msg,
            data,
            args,
        })
    }

    /// Writes the body (server side).
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, Error> {
        let mut c = Cursor { buf: out, at: 0 };
        c.put(&[
            self.status,
            u8::try_from(self.args.len()).map_err(|_| Error::TooManyArgs)?,
        ])?;
        c.put(&len_u16(self.server_msg, "server_msg")?.to_be_bytes())?;
        c.put(&len_u16(self.data, "data")?.to_be_bytes())?;
        self.args.lens(&mut c)?;
        c.put(self.server_msg)?;
        c.put(self.data)?;
        self.args.values(&mut c)?;
        Ok(c.at)
    }
}

/// Accounting REQUEST body (RFC 8907 §7.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcctRequest<'a> {
    /// START, STOP or WATCHDOG.
    pub flags: u8,
    /// Who and how.
    pub info: RequestInfo<'a>,
    /// Arguments ("task_id=…", "bytes_in=…").
    pub args: Args<'a>,
}

impl<'a> AcctRequest<'a> {
    /// Writes the body.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, Error> {
        let mut c = Cursor { buf: out, at: 0 };
        c.put(&[self.flags])?;
        self.info.emit(&mut c, &self.args)?;
        Ok(c.at)
    }

    /// Parses a body.
    pub fn parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader { bytes: body, at: 0 };
        let flags = r.u8("flags")?;
        let (info, args) = RequestInfo::parse(&mut r)?;
        r.finish()?;
        Ok(AcctRequest { flags, info, args })
    }
}

/// Accounting REPLY body (RFC 8907 §7.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcctReply<'a> {
    /// Message.
    pub server_msg: &'a [u8],
    /// Data.
    pub data: &'a [u8],
    /// Status.
    pub status: u8,
}

impl<'a> AcctReply<'a> {
    /// Parses a body.
    pub fn parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader { bytes: body, at: 0 };
        let msg_len = r.u16("server_msg_len")?;
        let data_len = r.u16("data_len")?;
        let status = r.u8("status")?;
        let reply = AcctReply {
            server_msg: r.take(usize::from(msg_len), "server_msg")?,
            data: r.take(usize::from(data_len), "data")?,
            status,
        };
        r.finish()?;
        Ok(reply)
    }

    /// Writes the body (server side).
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, Error> {
        let mut c = Cursor { buf: out, at: 0 };
        c.put(&len_u16(self.server_msg, "server_msg")?.to_be_bytes())?;
        c.put(&len_u16(self.data, "data")?.to_be_bytes())?;
        c.put(&[self.status])?;
        c.put(self.server_msg)?;
        c.put(self.data)?;
        Ok(c.at)
    }
}

/// Writes a whole packet: header (with the body length) and the body
/// produced by `body`, obfuscated with `key`. Returns the packet length.
pub fn emit_packet(
    out: &mut [u8],
    mut header: Header,
    key: &[u8],
    body: impl FnOnce(&mut [u8]) -> Result<usize, Error>,
) -> Result<usize, Error> {
    let limit = out.len().min(HEADER_LEN + MAX_BODY_LEN);
    let body_buf = out
        .get_mut(HEADER_LEN..limit)
        .ok_or(Error::BufferTooSmall { needed: HEADER_LEN })?;
    let len = body(body_buf)?;
    header.length = len as u32;
    let body_buf = body_buf.get_mut(..len).ok_or(Error::BufferTooSmall {
        needed: HEADER_LEN + len,
    })?;
    if header.flags & FLAG_UNENCRYPTED == 0 {
        obfuscate(&header, key, body_buf);
    }
    header.emit(out)?;
    Ok(HEADER_LEN + len)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use md5::Digest;

    fn header(seq: u8, t: PacketType) -> Header {
        Header {
            version: 0xc1,
            packet_type: t.as_u8(),
            seq_no: seq,
            flags: 0,
            session_id: 0x1234_5678,
            length: 0,
        }
    }

    #[test]
    fn obfuscation_is_an_involution_and_depends_on_everything() {
        let h = header(1, PacketType::Authentication);
        let clear: [u8; 40] = core::array::from_fn(|i| i as u8);
        let mut body = clear;
        obfuscate(&h, b"key", &mut body);
        assert_ne!(body, clear);
        let mut again = body;
        obfuscate(&h, b"key", &mut again);
        assert_eq!(again, clear);
        // First pad block is MD5(session_id | key | version | seq_no).
        let mut md5 = Md5::new();
        md5.update([0x12, 0x34, 0x56, 0x78]);
        md5.update(b"key");
        md5.update([0xc1, 1]);
        let pad: [u8; 16] = md5.finalize().into();
        for i in 0..16 {
            assert_eq!(body[i], clear[i] ^ pad[i]);
        }
        let mut other = clear;
        obfuscate(&header(3, PacketType::Authentication), b"key", &mut other);
        assert_ne!(other, body);
    }

    #[test]
    fn bodies_round_trip() {
        let mut buf = [0u8; 512];
        let start = AuthenStart {
            action: ACTION_LOGIN,
            priv_lvl: 1,
            authen_type: authen_type::PAP,
            authen_service: AUTHEN_SERVICE_PPP,
            user: b"User",
            port: b"pptp0",
            rem_addr: b"198.51.100.7",
            data: b"clientPass",
        };
        let n = start.emit(&mut buf).unwrap();
        assert_eq!(AuthenStart::parse(&buf[..n]).unwrap(), start);
        let reply = AuthenReply {
            status: authen_status::PASS,
            flags: 0,
            server_msg: b"welcome",
            data: b"S=00",
        };
        let n = reply.emit(&mut buf).unwrap();
        assert_eq!(AuthenReply::parse(&buf[..n]).unwrap(), reply);
        let cont = AuthenContinue {
            user_msg: b"pw",
            data: b"",
            flags: 0,
        };
        let n = cont.emit(&mut buf).unwrap();
        assert_eq!(AuthenContinue::parse(&buf[..n]).unwrap(), cont);
        let mut args = Args::new();
        args.push(b"service=ppp").unwrap();
        args.push(b"protocol=ip").unwrap();
        let info = RequestInfo {
            authen_method: AUTHEN_METHOD_TACACSPLUS,
            priv_lvl: 1,
            authen_type: authen_type::MSCHAPV2,
            authen_service: AUTHEN_SERVICE_PPP,
            user: b"User",
            port: b"pptp0",
            rem_addr: b"x",
        };
        let req = AuthorRequest {
            info,
            args: args.clone(),
        };
        let n = req.emit(&mut buf).unwrap();
        assert_eq!(AuthorRequest::parse(&buf[..n]).unwrap(), req);
        let mut rargs = Args::new();
        rargs.push(b"addr=192.0.2.10").unwrap();
        rargs.push(b"dns-servers*192.0.2.53").unwrap();
        let resp = AuthorResponse {
            status: author_status::PASS_ADD,
            server_msg: b"",
            data: b"",
            args: rargs,
        };
        let n = resp.emit(&mut buf).unwrap();
        let parsed = AuthorResponse::parse(&buf[..n]).unwrap();
        assert_eq!(parsed, resp);
        assert_eq!(parsed.args.get(b"addr"), Some(&b"192.0.2.10"[..]));
        assert_eq!(parsed.args.get(b"dns-servers"), Some(&b"192.0.2.53"[..]));
        assert_eq!(parsed.args.get(b"add"), None);
        drop(parsed);
        let acct = AcctRequest {
            flags: acct::FLAG_STOP,
            info,
            args,
        };
        let n = acct.emit(&mut buf).unwrap();
        assert_eq!(AcctRequest::parse(&buf[..n]).unwrap(), acct);
        let ar = AcctReply {
            server_msg: b"",
            data: b"",
            status: acct::STATUS_SUCCESS,
        };
        let n = ar.emit(&mut buf).unwrap();
        assert_eq!(AcctReply::parse(&buf[..n]).unwrap(), ar);
    }

    #[test]
    fn bad_bodies_and_headers_are_typed_errors() {
        assert_eq!(
            Header::parse(&[0xc0, 1, 2]).unwrap_err(),
            Error::Truncated { len: 3 }
        );
        let mut h = [0xc0, 1, 2, 0, 0, 0, 0, 1, 0, 0, 0, 6];
        assert!(Header::parse(&h).is_ok());
        h[0] = 0xb0;
        assert_eq!(
            Header::parse(&h).unwrap_err(),
            Error::BadVersion { version: 0xb0 }
        );
        h[0] = 0xc0;
        h[1] = 9;
        assert_eq!(
            Header::parse(&h).unwrap_err(),
            Error::UnknownType { packet_type: 9 }
        );
        h[1] = 1;
        h[8] = 1;
        assert_eq!(
            Header::parse(&h).unwrap_err(),
            Error::Oversized {
                length: 0x0100_0006
            }
        );
        // Reply with a server_msg longer than the body.
        assert_eq!(
            AuthenReply::parse(&[1, 0, 0, 9, 0, 0, b'a']).unwrap_err(),
            Error::BadBody {
                field: "server_msg"
            }
        );
        assert_eq!(
            AuthenReply::parse(&[1, 0, 0]).unwrap_err(),
            Error::BadBody {
                field: "server_msg_len"
            }
        );
        assert_eq!(
            AuthenReply::parse(&[1, 0, 0, 0, 0, 0, 7]).unwrap_err(),
            Error::BadBody {
                field: "trailing octets"
            }
        );
        // Authorization response claiming 3 args with 2 length octets.
        assert_eq!(
            AuthorResponse::parse(&[1, 3, 0, 0, 0, 0, 1, 1]).unwrap_err(),
            Error::BadBody {
                field: "arg lengths"
            }
        );
        // Args past the end.
        assert_eq!(
            AuthorResponse::parse(&[1, 1, 0, 0, 0, 0, 5, b'a']).unwrap_err(),
            Error::BadBody { field: "arg" }
        );
        // More args than we hold.
        let mut many = std::vec![1u8, 40, 0, 0, 0, 0];
        many.extend(core::iter::repeat_n(0, 40));
        assert_eq!(
            AuthorResponse::parse(&many).unwrap_err(),
            Error::TooManyArgs
        );
        assert_eq!(
            AcctReply::parse(&[0, 0, 0, 0]).unwrap_err(),
            Error::BadBody { field: "status" }
        );
        let long = [0u8; 256];
        let start = AuthenStart {
            action: 1,
            priv_lvl: 1,
            authen_type: 2,
            authen_service: 3,
            user: &long,
            port: b"",
            rem_addr: b"",
            data: b"",
        };
        assert_eq!(
            start.emit(&mut [0u8; 512]).unwrap_err(),
            Error::FieldTooLong {
                field: "user",
                length: 256
            }
        );
        assert_eq!(
            AuthenContinue {
                user_msg: b"abc",
                data: b"",
                flags: 0
            }
            .emit(&mut [0u8; 6])
            .unwrap_err(),
            Error::BufferTooSmall { needed: 8 }
        );
    }
}
