//! PPTP control messages (RFC 2637 §1.4 and §2).
//!
//! Every control message starts with the same 12-octet header:
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |            Length             |     PPTP Message Type (1)     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Magic Cookie (0x1A2B3C4D)                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Control Message Type      |           Reserved0           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! followed by a body whose length is fixed by the control message type
//! (RFC 2637 §2.1–§2.15). [`ControlMessage`] is a checked view over such a
//! message; [`ControlRepr`] is its parsed form, one struct per message,
//! borrowing the NUL-padded text fields (host name, vendor, phone numbers,
//! subaddress, call statistics) from the buffer as byte strings (they are
//! not required to be ASCII, let alone UTF-8).
//!
//! Validation order in [`ControlMessage::new_checked`] (and therefore the
//! exact error a bad buffer gives): fewer than 12 octets →
//! [`WireError::Truncated`] with `needed = 12`; then magic cookie, PPTP
//! message type, control message type, the Length field against the
//! length the type prescribes; then, last, a buffer shorter than Length →
//! [`WireError::Truncated`] with `needed = Length`. A prefix of a valid
//! message therefore always reports `Truncated`, never a wrong value.

use core::fmt;

/// The magic cookie every control message carries (RFC 2637 §1.4): lets a
/// receiver check that it is still in step with the TCP byte stream.
pub const MAGIC_COOKIE: u32 = 0x1A2B_3C4D;

/// PPTP Message Type of control messages (RFC 2637 §1.4). Type 2
/// (management) is defined by the RFC but no management messages exist.
pub const CONTROL_MESSAGE: u16 = 1;

/// Protocol version 1.0 as carried in SCCRQ/SCCRP (RFC 2637 §2.1).
pub const PROTOCOL_VERSION: u16 = 0x0100;

/// Length of the common header (Length, PPTP Message Type, Magic Cookie,
/// Control Message Type, Reserved0).
pub const HEADER_LEN: usize = 12;

/// Length of the largest control message, Incoming-Call-Request (220
/// octets, RFC 2637 §2.9).
pub const MAX_MESSAGE_LEN: usize = 220;

/// Length of the NUL-padded host name, vendor, phone number and subaddress
/// fields (RFC 2637 §2.1, §2.7, §2.9).
pub const NAME_FIELD_LEN: usize = 64;

/// Length of the NUL-padded Call Statistics field of
/// Call-Disconnect-Notify (RFC 2637 §2.13).
pub const STATS_FIELD_LEN: usize = 128;

/// Errors of the control-message wire layer.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WireError {
    /// The buffer ends before the message does: `needed` octets are
    /// required (12 for the header, otherwise the Length field), `got`
    /// were present.
    Truncated {
        /// Octets required.
        needed: usize,
        /// Octets present.
        got: usize,
    },
    /// The Length field does not match the length RFC 2637 §2 prescribes
    /// for the control message type (or, in the stream reassembler, is
    /// shorter than the header or longer than any control message).
    BadLength {
        /// The Control Message Type field as received.
        message_type: u16,
        /// The Length field as received.
        length: u16,
    },
    /// The Magic Cookie is not 0x1A2B3C4D (RFC 2637 §1.4).
    BadMagicCookie(u32),
    /// The PPTP Message Type is not 1 (control message).
    BadMessageType(u16),
    /// The Control Message Type is not one of the 15 of RFC 2637 §1.4.
    UnknownControlType(u16),
    /// The output buffer is too small for the message being emitted.
    BufferTooSmall {
        /// Octets required.
        needed: usize,
        /// Octets available.
        got: usize,
    },
    /// A byte-string field given to an emitter is longer than its
    /// fixed-size slot on the wire (64 or 128 octets).
    FieldTooLong {
        /// The field's name.
        field: &'static str,
        /// The length that was given.
        len: usize,
    },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            WireError::Truncated { needed, got } => {
                write!(
                    f,
                    "control message truncated: need {needed} octets, got {got}"
                )
            }
            WireError::BadLength {
                message_type,
                length,
            } => write!(
                f,
                "control message type {message_type} with invalid length {length}"
            ),
            WireError::BadMagicCookie(c) => write!(f, "bad magic cookie {c:#010x}"),
            WireError::BadMessageType(t) => write!(f, "PPTP message type {t} is not control (1)"),
            WireError::UnknownControlType(t) => write!(f, "unknown control message type {t}"),
            WireError::BufferTooSmall { needed, got } => {
                write!(
                    f,
                    "output buffer too small: need {needed} octets, got {got}"
                )
            }
            WireError::FieldTooLong { field, len } => {
                write!(f, "field {field} too long for its slot: {len} octets")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for WireError {}

/// The 15 control message types (RFC 2637 §1.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u16)]
pub enum MessageType {
    /// Start-Control-Connection-Request (SCCRQ, §2.1).
    StartControlConnectionRequest = 1,
    /// Start-Control-Connection-Reply (SCCRP, §2.2).
    StartControlConnectionReply = 2,
    /// Stop-Control-Connection-Request (StopCCRQ, §2.3).
    StopControlConnectionRequest = 3,
    /// Stop-Control-Connection-Reply (StopCCRP, §2.4).
    StopControlConnectionReply = 4,
    /// Echo-Request (§2.5).
    EchoRequest = 5,
    /// Echo-Reply (§2.6).
    EchoReply = 6,
    /// Outgoing-Call-Request (OCRQ, §2.7).
    OutgoingCallRequest = 7,
    /// Outgoing-Call-Reply (OCRP, §2.8).
    OutgoingCallReply = 8,
    /// Incoming-Call-Request (ICRQ, §2.9).
    IncomingCallRequest = 9,
    /// Incoming-Call-Reply (ICRP, §2.10).
    IncomingCallReply = 10,
    /// Incoming-Call-Connected (ICCN, §2.11).
    IncomingCallConnected = 11,
    /// Call-Clear-Request (CCRQ, §2.12).
    CallClearRequest = 12,
    /// Call-Disconnect-Notify (CDN, §2.13).
    CallDisconnectNotify = 13,
    /// WAN-Error-Notify (WEN, §2.14).
    WanErrorNotify = 14,
    /// Set-Link-Info (SLI, §2.15).
    SetLinkInfo = 15,
}

impl MessageType {
    /// All 15 types in numeric order.
    pub const ALL: [MessageType; 15] = [
        MessageType::StartControlConnectionRequest,
        MessageType::StartControlConnectionReply,
        MessageType::StopControlConnectionRequest,
        MessageType::StopControlConnectionReply,
        MessageType::EchoRequest,
        MessageType::EchoReply,
        MessageType::OutgoingCallRequest,
        MessageType::OutgoingCallReply,
        MessageType::IncomingCallRequest,
        MessageType::IncomingCallReply,
        MessageType::IncomingCallConnected,
        MessageType::CallClearRequest,
        MessageType::CallDisconnectNotify,
        MessageType::WanErrorNotify,
        MessageType::SetLinkInfo,
    ];

    /// The type for a Control Message Type value, if it is one of the 15.
    pub const fn from_u16(value: u16) -> Option<MessageType> {
        match value {
            1..=15 => Some(Self::ALL[(value - 1) as usize]),
            _ => None,
        }
    }

    /// The Control Message Type value.
    pub const fn as_u16(self) -> u16 {
        self as u16
    }

    /// The exact length of a message of this type, header included (RFC
    /// 2637 §2).
    pub const fn length(self) -> usize {
        match self {
            MessageType::StartControlConnectionRequest => 156,
            MessageType::StartControlConnectionReply => 156,
            MessageType::StopControlConnectionRequest => 16,
            MessageType::StopControlConnectionReply => 16,
            MessageType::EchoRequest => 16,
            MessageType::EchoReply => 20,
            MessageType::OutgoingCallRequest => 168,
            MessageType::OutgoingCallReply => 32,
            MessageType::IncomingCallRequest => 220,
            MessageType::IncomingCallReply => 24,
            MessageType::IncomingCallConnected => 28,
            MessageType::CallClearRequest => 16,
            MessageType::CallDisconnectNotify => 148,
            MessageType::WanErrorNotify => 40,
            MessageType::SetLinkInfo => 24,
        }
    }

    /// The RFC's abbreviation (for logs).
    pub const fn abbreviation(self) -> &'static str {
        match self {
            MessageType::StartControlConnectionRequest => "SCCRQ",
            MessageType::StartControlConnectionReply => "SCCRP",
            MessageType::StopControlConnectionRequest => "StopCCRQ",
            MessageType::StopControlConnectionReply => "StopCCRP",
            MessageType::EchoRequest => "Echo-Request",
            MessageType::EchoReply => "Echo-Reply",
            MessageType::OutgoingCallRequest => "OCRQ",
            MessageType::OutgoingCallReply => "OCRP",
            MessageType::IncomingCallRequest => "ICRQ",
            MessageType::IncomingCallReply => "ICRP",
            MessageType::IncomingCallConnected => "ICCN",
            MessageType::CallClearRequest => "CCRQ",
            MessageType::CallDisconnectNotify => "CDN",
            MessageType::WanErrorNotify => "WEN",
            MessageType::SetLinkInfo => "SLI",
        }
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.abbreviation())
    }
}

/// Defines a one-octet code enum with named values and an `Other(u8)`
/// fallback, so odd values from peers parse and round-trip.
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value RFC 2637 does not define for this field.
            Other(u8),
        }

        impl From<u8> for $name {
            fn from(value: u8) -> Self {
                match value {
                    $( $value => $name::$variant, )+
                    other => $name::Other(other),
                }
            }
        }

        impl From<$name> for u8 {
            fn from(value: $name) -> u8 {
                match value {
                    $( $name::$variant => $value, )+
                    $name::Other(other) => other,
                }
            }
        }
    };
}

code_enum! {
    /// General Error Code (RFC 2637 §2.16), carried next to most result
    /// codes; meaningful when the result code is "General Error".
    GeneralError {
        /// 0: no general error.
        None = 0,
        /// 1 (Not-Connected): no control connection exists yet.
        NotConnected = 1,
        /// 2 (Bad-Format): length wrong or magic cookie wrong.
        BadFormat = 2,
        /// 3 (Bad-Value): a field was out of range or a reserved field
        /// non-zero.
        BadValue = 3,
        /// 4 (No-Resource): insufficient resources to handle the command.
        NoResource = 4,
        /// 5 (Bad-Call ID): the Call ID is invalid in this context.
        BadCallId = 5,
        /// 6 (PAC-Error): a generic vendor-specific error in the PAC.
        PacError = 6,
    }
}

code_enum! {
    /// Result Code of Start-Control-Connection-Reply (RFC 2637 §2.2).
    StartControlResult {
        /// 1: successful channel establishment.
        Ok = 1,
        /// 2: general error; the error code says why.
        GeneralError = 2,
        /// 3: a command channel already exists.
        ChannelExists = 3,
        /// 4: the requester is not authorized.
        NotAuthorized = 4,
        /// 5: the requester's protocol version is not supported.
        BadVersion = 5,
    }
}

code_enum! {
    /// Reason of Stop-Control-Connection-Request (RFC 2637 §2.3).
    StopReason {
        /// 1 (None): general request to clear the control connection.
        None = 1,
        /// 2 (Stop-Protocol): cannot support the peer's protocol version.
        StopProtocol = 2,
        /// 3 (Stop-Local-Shutdown): the requester is shutting down.
        LocalShutdown = 3,
    }
}

code_enum! {
    /// Result Code of Stop-Control-Connection-Reply (RFC 2637 §2.4).
    StopResult {
        /// 1 (OK): control connection closed.
        Ok = 1,
        /// 2: general error; the error code says why.
        GeneralError = 2,
    }
}

code_enum! {
    /// Result Code of Echo-Reply (RFC 2637 §2.6).
    EchoResult {
        /// 1 (OK): the Echo-Reply is valid.
        Ok = 1,
        /// 2: general error; the error code says why.
        GeneralError = 2,
    }
}

code_enum! {
    /// Result Code of Outgoing-Call-Reply (RFC 2637 §2.8).
    OutgoingCallResult {
        /// 1 (Connected): the call was established.
        Connected = 1,
        /// 2: general error; the error code says why.
        GeneralError = 2,
        /// 3 (No Carrier): no carrier detected.
        NoCarrier = 3,
        /// 4 (Busy): a busy signal was detected.
        Busy = 4,
        /// 5 (No Dial Tone): no dial tone.
        NoDialTone = 5,
        /// 6 (Time-out): not established within the time the PAC allows.
        TimeOut = 6,
        /// 7 (Do Not Accept): administratively prohibited.
        DoNotAccept = 7,
    }
}

code_enum! {
    /// Result Code of Incoming-Call-Reply (RFC 2637 §2.10).
    IncomingCallResult {
        /// 1 (Connect): the PAC should answer the incoming call.
        Connect = 1,
        /// 2: general error; the error code says why.
        GeneralError = 2,
        /// 3 (Do Not Accept): the PAC should not accept the call.
        DoNotAccept = 3,
    }
}

code_enum! {
    /// Result Code of Call-Disconnect-Notify (RFC 2637 §2.13).
    DisconnectResult {
        /// 1 (Lost Carrier): the call was disconnected by loss of carrier.
        LostCarrier = 1,
        /// 2: general error; the error code says why.
        GeneralError = 2,
        /// 3 (Admin Shutdown): disconnected for administrative reasons.
        AdminShutdown = 3,
        /// 4 (Request): disconnected because of a Call-Clear-Request.
        Request = 4,
    }
}

/// Defines a u32 bit-set newtype (framing/bearer capabilities).
macro_rules! bit_set {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$cmeta:meta])* $flag:ident = $value:literal, )+ }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        pub struct $name(pub u32);

        impl $name {
            $( $(#[$cmeta])* pub const $flag: $name = $name($value); )+
            /// No bits set.
            pub const NONE: $name = $name(0);

            /// True if every bit of `other` is set in `self`.
            pub const fn contains(self, other: $name) -> bool {
                self.0 & other.0 == other.0
            }

            /// True if `self` and `other` share a bit.
            pub const fn intersects(self, other: $name) -> bool {
                self.0 & other.0 != 0
            }

            /// The raw value.
            pub const fn bits(self) -> u32 {
                self.0
            }
        }

        impl core::ops::BitOr for $name {
            type Output = $name;
            fn bitor(self, rhs: $name) -> $name {
                $name(self.0 | rhs.0)
            }
        }

        impl core::ops::BitAnd for $name {
            type Output = $name;
            fn bitand(self, rhs: $name) -> $name {
                $name(self.0 & rhs.0)
            }
        }
    };
}

bit_set! {
    /// Framing Capabilities (SCCRQ/SCCRP) and Framing Type (OCRQ, ICCN),
    /// RFC 2637 §2.1: bit 0 asynchronous, bit 1 synchronous framing.
    /// Unknown bits are kept as received.
    FramingCapabilities {
        /// Asynchronous framing supported / used.
        ASYNC = 1,
        /// Synchronous framing supported / used.
        SYNC = 2,
        /// Either framing (value 3).
        EITHER = 3,
    }
}

bit_set! {
    /// Bearer Capabilities (SCCRQ/SCCRP) and Bearer Type (OCRQ, ICRQ),
    /// RFC 2637 §2.1: bit 0 analog, bit 1 digital access. Unknown bits are
    /// kept as received.
    BearerCapabilities {
        /// Analog access supported / used.
        ANALOG = 1,
        /// Digital access supported / used.
        DIGITAL = 2,
        /// Any bearer (value 3).
        ANY = 3,
    }
}

/// A checked view over one control message (RFC 2637 §1.4).
///
/// After [`ControlMessage::new_checked`] the header is valid, the Length
/// field equals the length the type prescribes, and the buffer holds at
/// least Length octets (it may hold more: trailing octets are not part of
/// the message, see [`ControlMessage::message`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlMessage<T: AsRef<[u8]>> {
    buffer: T,
}

mod field {
    pub const LENGTH: usize = 0;
    pub const PPTP_TYPE: usize = 2;
    pub const COOKIE: usize = 4;
    pub const CONTROL_TYPE: usize = 8;
    pub const RESERVED0: usize = 10;
}

fn get_u8(buf: &[u8], at: usize) -> u8 {
    buf.get(at).copied().unwrap_or(0)
}

fn get_u16(buf: &[u8], at: usize) -> u16 {
    match buf.get(at..at + 2) {
        Some(&[a, b]) => u16::from_be_bytes([a, b]),
        _ => 0,
    }
}

fn get_u32(buf: &[u8], at: usize) -> u32 {
    match buf.get(at..at + 4) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

/// The NUL-padded string at `at..at + len`, up to (not including) the
/// first NUL; the whole slot if it has none.
fn get_padded(buf: &[u8], at: usize, len: usize) -> &[u8] {
    let slot = buf.get(at..at + len).unwrap_or(&[]);
    let end = slot.iter().position(|&b| b == 0).unwrap_or(slot.len());
    slot.get(..end).unwrap_or(&[])
}

fn put_u8(buf: &mut [u8], at: usize, value: u8) {
    if let Some(b) = buf.get_mut(at) {
        *b = value;
    }
}

fn put_u16(buf: &mut [u8], at: usize, value: u16) {
    if let Some(s) = buf.get_mut(at..at + 2) {
        s.copy_from_slice(&value.to_be_bytes());
    }
}

fn put_u32(buf: &mut [u8], at: usize, value: u32) {
    if let Some(s) = buf.get_mut(at..at + 4) {
        s.copy_from_slice(&value.to_be_bytes());
    }
}

/// Copies `value` into the slot, NUL-padding the rest. The caller has
/// checked `value.len() <= len`.
fn put_padded(buf: &mut [u8], at: usize, len: usize, value: &[u8]) {
    if let Some(slot) = buf.get_mut(at..at + len) {
        slot.fill(0);
        if let Some(dst) = slot.get_mut(..value.len()) {
            dst.copy_from_slice(value);
        }
    }
}

fn check_field(field: &'static str, value: &[u8], max: usize) -> Result<(), WireError> {
    if value.len() > max {
        Err(WireError::FieldTooLong {
            field,
            len: value.len(),
        })
    } else {
        Ok(())
    }
}

impl<T: AsRef<[u8]>> ControlMessage<T> {
    /// Wraps a buffer without checking it. Getters on an unchecked view
    /// never panic; they read zero past the end of the buffer.
    pub const fn new_unchecked(buffer: T) -> Self {
        ControlMessage { buffer }
    }

    /// Wraps a buffer and checks it (see the module docs for the order of
    /// checks and the exact errors).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let message = Self::new_unchecked(buffer);
        message.check()?;
        Ok(message)
    }

    /// Performs the checks of [`ControlMessage::new_checked`].
    pub fn check(&self) -> Result<(), WireError> {
        let buf = self.buffer.as_ref();
        if buf.len() < HEADER_LEN {
            return Err(WireError::Truncated {
                needed: HEADER_LEN,
                got: buf.len(),
            });
        }
        let header = check_header(buf)?;
        if buf.len() < header.length() {
            return Err(WireError::Truncated {
                needed: header.length(),
                got: buf.len(),
            });
        }
        Ok(())
    }

    /// Returns the wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The Length field.
    pub fn length(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// The PPTP Message Type field.
    pub fn pptp_message_type(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::PPTP_TYPE)
    }

    /// The Magic Cookie field.
    pub fn magic_cookie(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::COOKIE)
    }

    /// The Control Message Type field as a number.
    pub fn raw_control_type(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CONTROL_TYPE)
    }

    /// The Control Message Type, if it is one of the 15.
    pub fn message_type(&self) -> Option<MessageType> {
        MessageType::from_u16(self.raw_control_type())
    }

    /// The Reserved0 field (zero on the wire; not checked on receipt).
    pub fn reserved0(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::RESERVED0)
    }

    /// The message's own octets (the first Length octets of the buffer,
    /// or the whole buffer if it is shorter).
    pub fn message(&self) -> &[u8] {
        let buf = self.buffer.as_ref();
        let len = usize::from(self.length()).min(buf.len());
        buf.get(..len).unwrap_or(buf)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ControlMessage<T> {
    /// Writes the 12-octet header for `message_type`: its Length, PPTP
    /// Message Type 1, the magic cookie, and Reserved0 = 0.
    pub fn set_header(&mut self, message_type: MessageType) {
        let buf = self.buffer.as_mut();
        put_u16(buf, field::LENGTH, message_type.length() as u16);
        put_u16(buf, field::PPTP_TYPE, CONTROL_MESSAGE);
        put_u32(buf, field::COOKIE, MAGIC_COOKIE);
        put_u16(buf, field::CONTROL_TYPE, message_type.as_u16());
        put_u16(buf, field::RESERVED0, 0);
    }
}

/// Checks the 12-octet header of `buf` (which must hold at least 12
/// octets): cookie, PPTP message type, control type, and Length against
/// the type. Returns the type.
fn check_header(buf: &[u8]) -> Result<MessageType, WireError> {
    let cookie = get_u32(buf, field::COOKIE);
    if cookie != MAGIC_COOKIE {
        return Err(WireError::BadMagicCookie(cookie));
    }
    let pptp_type = get_u16(buf, field::PPTP_TYPE);
    if pptp_type != CONTROL_MESSAGE {
        return Err(WireError::BadMessageType(pptp_type));
    }
    let raw_type = get_u16(buf, field::CONTROL_TYPE);
    let message_type =
        MessageType::from_u16(raw_type).ok_or(WireError::UnknownControlType(raw_type))?;
    let length = get_u16(buf, field::LENGTH);
    if usize::from(length) != message_type.length() {
        return Err(WireError::BadLength {
            message_type: raw_type,
            length,
        });
    }
    Ok(message_type)
}

/// Start-Control-Connection-Request (SCCRQ, RFC 2637 §2.1), 156 octets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Sccrq<'a> {
    /// Protocol Version (0x0100 for this RFC).
    pub protocol_version: u16,
    /// Framing Capabilities of the sender.
    pub framing_capabilities: FramingCapabilities,
    /// Bearer Capabilities of the sender.
    pub bearer_capabilities: BearerCapabilities,
    /// Maximum Channels (PAC: channels it can support; PNS: zero).
    pub maximum_channels: u16,
    /// Firmware Revision of the sender.
    pub firmware_revision: u16,
    /// Host Name, up to the first NUL (at most 64 octets).
    pub host_name: &'a [u8],
    /// Vendor String, up to the first NUL (at most 64 octets).
    pub vendor_string: &'a [u8],
}

/// Start-Control-Connection-Reply (SCCRP, RFC 2637 §2.2), 156 octets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Sccrp<'a> {
    /// Protocol Version (0x0100; with result 5, the highest version the
    /// sender supports).
    pub protocol_version: u16,
    /// Result Code.
    pub result: StartControlResult,
    /// Error Code (meaningful when the result is General Error).
    pub error: GeneralError,
    /// Framing Capabilities of the sender.
    pub framing_capabilities: FramingCapabilities,
    /// Bearer Capabilities of the sender.
    pub bearer_capabilities: BearerCapabilities,
    /// Maximum Channels.
    pub maximum_channels: u16,
    /// Firmware Revision.
    pub firmware_revision: u16,
    /// Host Name, up to the first NUL.
    pub host_name: &'a [u8],
    /// Vendor String, up to the first NUL.
    pub vendor_string: &'a [u8],
}

/// Stop-Control-Connection-Request (StopCCRQ, RFC 2637 §2.3), 16 octets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StopCcrq {
    /// Reason for closing the control connection.
    pub reason: StopReason,
}

/// Stop-Control-Connection-Reply (StopCCRP, RFC 2637 §2.4), 16 octets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StopCcrp {
    /// Result Code.
    pub result: StopResult,
    /// Error Code.
    pub error: GeneralError,
}

/// Echo-Request (RFC 2637 §2.5), 16 octets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EchoRequest {
    /// Identifier, echoed in the Echo-Reply.
    pub identifier: u32,
}

/// Echo-Reply (RFC 2637 §2.6), 20 octets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EchoReply {
    /// Identifier of the Echo-Request answered.
    pub identifier: u32,
    /// Result Code.
    pub result: EchoResult,
    /// Error Code.
    pub error: GeneralError,
}

/// Outgoing-Call-Request (OCRQ, RFC 2637 §2.7), 168 octets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Ocrq<'a> {
    /// Call ID chosen by the sender (the PNS) for this call.
    pub call_id: u16,
    /// Call Serial Number (for logging).
    pub call_serial_number: u16,
    /// Minimum BPS acceptable.
    pub minimum_bps: u32,
    /// Maximum BPS acceptable.
    pub maximum_bps: u32,
    /// Bearer Type for the call.
    pub bearer_type: BearerCapabilities,
    /// Framing Type for the call.
    pub framing_type: FramingCapabilities,
    /// Packet Receive Window Size: packets the sender can buffer for this
    /// call (the peer's send window).
    pub packet_recv_window_size: u16,
    /// Packet Processing Delay, in 1/10 s.
    pub packet_processing_delay: u16,
    /// Phone Number Length field as sent (normally
    /// `phone_number.len()`; kept as received so it round-trips).
    pub phone_number_length: u16,
    /// Phone Number, up to the first NUL.
    pub phone_number: &'a [u8],
    /// Subaddress, up to the first NUL.
    pub subaddress: &'a [u8],
}

/// Outgoing-Call-Reply (OCRP, RFC 2637 §2.8), 32 octets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Ocrp {
    /// Call ID chosen by the sender (the PAC).
    pub call_id: u16,
    /// Peer's Call ID: the Call ID of the OCRQ answered.
    pub peer_call_id: u16,
    /// Result Code.
    pub result: OutgoingCallResult,
    /// Error Code.
    pub error: GeneralError,
    /// Cause Code (additional failure information).
    pub cause_code: u16,
    /// Connect Speed in bits per second.
    pub connect_speed: u32,
    /// Packet Receive Window Size of the sender.
    pub packet_recv_window_size: u16,
    /// Packet Processing Delay, in 1/10 s.
    pub packet_processing_delay: u16,
    /// Physical Channel ID (for logging).
    pub physical_channel_id: u32,
}

/// Incoming-Call-Request (ICRQ, RFC 2637 §2.9), 220 octets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Icrq<'a> {
    /// Call ID chosen by the sender (the PAC).
    pub call_id: u16,
    /// Call Serial Number.
    pub call_serial_number: u16,
    /// Call Bearer Type.
    pub call_bearer_type: BearerCapabilities,
    /// Physical Channel ID.
    pub physical_channel_id: u32,
    /// Dialed Number Length field as sent.
    pub dialed_number_length: u16,
    /// Dialing Number Length field as sent.
    pub dialing_number_length: u16,
    /// Dialed Number (DNIS), up to the first NUL.
    pub dialed_number: &'a [u8],
    /// Dialing Number (CLID), up to the first NUL.
    pub dialing_number: &'a [u8],
    /// Subaddress, up to the first NUL.
    pub subaddress: &'a [u8],
}

/// Incoming-Call-Reply (ICRP, RFC 2637 §2.10), 24 octets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Icrp {
    /// Call ID chosen by the sender (the PNS).
    pub call_id: u16,
    /// Peer's Call ID: the Call ID of the ICRQ answered.
    pub peer_call_id: u16,
    /// Result Code.
    pub result: IncomingCallResult,
    /// Error Code.
    pub error: GeneralError,
    /// Packet Receive Window Size of the sender.
    pub packet_recv_window_size: u16,
    /// Packet Transmit Delay, in 1/10 s.
    pub packet_transmit_delay: u16,
}

/// Incoming-Call-Connected (ICCN, RFC 2637 §2.11), 28 octets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Iccn {
    /// Peer's Call ID: the Call ID the receiver (PNS) gave in its ICRP.
    pub peer_call_id: u16,
    /// Connect Speed in bits per second.
    pub connect_speed: u32,
    /// Packet Receive Window Size of the sender.
    pub packet_recv_window_size: u16,
    /// Packet Transmit Delay, in 1/10 s.
    pub packet_transmit_delay: u16,
    /// Framing Type in use.
    pub framing_type: FramingCapabilities,
}

/// Call-Clear-Request (CCRQ, RFC 2637 §2.12), 16 octets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Ccrq {
    /// The Call ID the sender (PNS) assigned to the call.
    pub call_id: u16,
}

/// Call-Disconnect-Notify (CDN, RFC 2637 §2.13), 148 octets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Cdn<'a> {
    /// The Call ID the sender (PAC) assigned to the call.
    pub call_id: u16,
    /// Result Code.
    pub result: DisconnectResult,
    /// Error Code.
    pub error: GeneralError,
    /// Cause Code (e.g. ISDN Q.931 cause).
    pub cause_code: u16,
    /// Call Statistics text, up to the first NUL (at most 128 octets).
    pub call_statistics: &'a [u8],
}

/// WAN-Error-Notify (WEN, RFC 2637 §2.14), 40 octets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Wen {
    /// Peer's Call ID: the Call ID the receiver (PNS) assigned.
    pub peer_call_id: u16,
    /// CRC Errors since the call was established.
    pub crc_errors: u32,
    /// Framing Errors.
    pub framing_errors: u32,
    /// Hardware Overruns.
    pub hardware_overruns: u32,
    /// Buffer Overruns.
    pub buffer_overruns: u32,
    /// Time-out Errors.
    pub timeout_errors: u32,
    /// Alignment Errors.
    pub alignment_errors: u32,
}

/// Set-Link-Info (SLI, RFC 2637 §2.15), 24 octets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Sli {
    /// Peer's Call ID: the Call ID the receiver (PAC) assigned.
    pub peer_call_id: u16,
    /// Send ACCM the PAC should use (RFC 1662 async control character map).
    pub send_accm: u32,
    /// Receive ACCM the PAC should use.
    pub receive_accm: u32,
}

/// A parsed control message: one variant per message type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ControlRepr<'a> {
    /// Start-Control-Connection-Request.
    Sccrq(Sccrq<'a>),
    /// Start-Control-Connection-Reply.
    Sccrp(Sccrp<'a>),
    /// Stop-Control-Connection-Request.
    StopCcrq(StopCcrq),
    /// Stop-Control-Connection-Reply.
    StopCcrp(StopCcrp),
    /// Echo-Request.
    EchoRequest(EchoRequest),
    /// Echo-Reply.
    EchoReply(EchoReply),
    /// Outgoing-Call-Request.
    Ocrq(Ocrq<'a>),
    /// Outgoing-Call-Reply.
    Ocrp(Ocrp),
    /// Incoming-Call-Request.
    Icrq(Icrq<'a>),
    /// Incoming-Call-Reply.
    Icrp(Icrp),
    /// Incoming-Call-Connected.
    Iccn(Iccn),
    /// Call-Clear-Request.
    Ccrq(Ccrq),
    /// Call-Disconnect-Notify.
    Cdn(Cdn<'a>),
    /// WAN-Error-Notify.
    Wen(Wen),
    /// Set-Link-Info.
    Sli(Sli),
}

impl<'a> ControlRepr<'a> {
    /// Parses a checked message. Reserved fields are not checked (RFC 2637
    /// asks senders to zero them; receivers gain nothing by refusing).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(message: &ControlMessage<&'a T>) -> Self {
        Self::parse_bytes_unchecked(message.buffer.as_ref())
    }

    /// Checks `bytes` with [`ControlMessage::new_checked`] and parses it.
    pub fn parse_bytes(bytes: &'a [u8]) -> Result<Self, WireError> {
        ControlMessage::new_checked(bytes)?;
        Ok(Self::parse_bytes_unchecked(bytes))
    }

    fn parse_bytes_unchecked(b: &'a [u8]) -> Self {
        // Every getter is bounds-checked (reads 0 past the end), so this
        // cannot panic even on a buffer that was never checked.
        let message_type = MessageType::from_u16(get_u16(b, field::CONTROL_TYPE))
            .unwrap_or(MessageType::EchoRequest);
        match message_type {
            MessageType::StartControlConnectionRequest => ControlRepr::Sccrq(Sccrq {
                protocol_version: get_u16(b, 12),
                framing_capabilities: FramingCapabilities(get_u32(b, 16)),
                bearer_capabilities: BearerCapabilities(get_u32(b, 20)),
                maximum_channels: get_u16(b, 24),
                firmware_revision: get_u16(b, 26),
                host_name: get_padded(b, 28, NAME_FIELD_LEN),
                vendor_string: get_padded(b, 92, NAME_FIELD_LEN),
            }),
            MessageType::StartControlConnectionReply => ControlRepr::Sccrp(Sccrp {
                protocol_version: get_u16(b, 12),
                result: get_u8(b, 14).into(),
                error: get_u8(b, 15).into(),
                framing_capabilities: FramingCapabilities(get_u32(b, 16)),
                bearer_capabilities: BearerCapabilities(get_u32(b, 20)),
                maximum_channels: get_u16(b, 24),
                firmware_revision: get_u16(b, 26),
                host_name: get_padded(b, 28, NAME_FIELD_LEN),
                vendor_string: get_padded(b, 92, NAME_FIELD_LEN),
            }),
            MessageType::StopControlConnectionRequest => ControlRepr::StopCcrq(StopCcrq {
                reason: get_u8(b, 12).into(),
            }),
            MessageType::StopControlConnectionReply => ControlRepr::StopCcrp(StopCcrp {
                result: get_u8(b, 12).into(),
                error: get_u8(b, 13).into(),
            }),
            MessageType::EchoRequest => ControlRepr::EchoRequest(EchoRequest {
                identifier: get_u32(b, 12),
            }),
            MessageType::EchoReply => ControlRepr::EchoReply(EchoReply {
                identifier: get_u32(b, 12),
                result: get_u8(b, 16).into(),
                error: get_u8(b, 17).into(),
            }),
            MessageType::OutgoingCallRequest => ControlRepr::Ocrq(Ocrq {
                call_id: get_u16(b, 12),
                call_serial_number: get_u16(b, 14),
                minimum_bps: get_u32(b, 16),
                maximum_bps: get_u32(b, 20),
                bearer_type: BearerCapabilities(get_u32(b, 24)),
                framing_type: FramingCapabilities(get_u32(b, 28)),
                packet_recv_window_size: get_u16(b, 32),
                packet_processing_delay: get_u16(b, 34),
                phone_number_length: get_u16(b, 36),
                phone_number: get_padded(b, 40, NAME_FIELD_LEN),
                subaddress: get_padded(b, 104, NAME_FIELD_LEN),
            }),
            MessageType::OutgoingCallReply => ControlRepr::Ocrp(Ocrp {
                call_id: get_u16(b, 12),
                peer_call_id: get_u16(b, 14),
                result: get_u8(b, 16).into(),
                error: get_u8(b, 17).into(),
                cause_code: get_u16(b, 18),
                connect_speed: get_u32(b, 20),
                packet_recv_window_size: get_u16(b, 24),
                packet_processing_delay: get_u16(b, 26),
                physical_channel_id: get_u32(b, 28),
            }),
            MessageType::IncomingCallRequest => ControlRepr::Icrq(Icrq {
                call_id: get_u16(b, 12),
                call_serial_number: get_u16(b, 14),
                call_bearer_type: BearerCapabilities(get_u32(b, 16)),
                physical_channel_id: get_u32(b, 20),
                dialed_number_length: get_u16(b, 24),
                dialing_number_length: get_u16(b, 26),
                dialed_number: get_padded(b, 28, NAME_FIELD_LEN),
                dialing_number: get_padded(b, 92, NAME_FIELD_LEN),
                subaddress: get_padded(b, 156, NAME_FIELD_LEN),
            }),
            MessageType::IncomingCallReply => ControlRepr::Icrp(Icrp {
                call_id: get_u16(b, 12),
                peer_call_id: get_u16(b, 14),
                result: get_u8(b, 16).into(),
                error: get_u8(b, 17).into(),
                packet_recv_window_size: get_u16(b, 18),
                packet_transmit_delay: get_u16(b, 20),
            }),
            MessageType::IncomingCallConnected => ControlRepr::Iccn(Iccn {
                peer_call_id: get_u16(b, 12),
                connect_speed: get_u32(b, 16),
                packet_recv_window_size: get_u16(b, 20),
                packet_transmit_delay: get_u16(b, 22),
                framing_type: FramingCapabilities(get_u32(b, 24)),
            }),
            MessageType::CallClearRequest => ControlRepr::Ccrq(Ccrq {
                call_id: get_u16(b, 12),
            }),
            MessageType::CallDisconnectNotify => ControlRepr::Cdn(Cdn {
                call_id: get_u16(b, 12),
                result: get_u8(b, 14).into(),
                error: get_u8(b, 15).into(),
                cause_code: get_u16(b, 16),
                call_statistics: get_padded(b, 20, STATS_FIELD_LEN),
            }),
            MessageType::WanErrorNotify => ControlRepr::Wen(Wen {
                peer_call_id: get_u16(b, 12),
                crc_errors: get_u32(b, 16),
                framing_errors: get_u32(b, 20),
                hardware_overruns: get_u32(b, 24),
                buffer_overruns: get_u32(b, 28),
                timeout_errors: get_u32(b, 32),
                alignment_errors: get_u32(b, 36),
            }),
            MessageType::SetLinkInfo => ControlRepr::Sli(Sli {
                peer_call_id: get_u16(b, 12),
                send_accm: get_u32(b, 16),
                receive_accm: get_u32(b, 20),
            }),
        }
    }

    /// The message type of this repr.
    pub const fn message_type(&self) -> MessageType {
        match self {
            ControlRepr::Sccrq(_) => MessageType::StartControlConnectionRequest,
            ControlRepr::Sccrp(_) => MessageType::StartControlConnectionReply,
            ControlRepr::StopCcrq(_) => MessageType::StopControlConnectionRequest,
            ControlRepr::StopCcrp(_) => MessageType::StopControlConnectionReply,
            ControlRepr::EchoRequest(_) => MessageType::EchoRequest,
            ControlRepr::EchoReply(_) => MessageType::EchoReply,
            ControlRepr::Ocrq(_) => MessageType::OutgoingCallRequest,
            ControlRepr::Ocrp(_) => MessageType::OutgoingCallReply,
            ControlRepr::Icrq(_) => MessageType::IncomingCallRequest,
            ControlRepr::Icrp(_) => MessageType::IncomingCallReply,
            ControlRepr::Iccn(_) => MessageType::IncomingCallConnected,
            ControlRepr::Ccrq(_) => MessageType::CallClearRequest,
            ControlRepr::Cdn(_) => MessageType::CallDisconnectNotify,
            ControlRepr::Wen(_) => MessageType::WanErrorNotify,
            ControlRepr::Sli(_) => MessageType::SetLinkInfo,
        }
    }

    /// Length of the emitted message.
    pub const fn buffer_len(&self) -> usize {
        self.message_type().length()
    }

    /// Writes the message into the start of `buf` and returns its length.
    /// Reserved fields and padding are zeroed. Fails, writing nothing, if
    /// `buf` is too short or a byte string is longer than its slot.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let len = self.buffer_len();
        self.check_fields()?;
        let got = buf.len();
        let out = buf
            .get_mut(..len)
            .ok_or(WireError::BufferTooSmall { needed: len, got })?;
        out.fill(0);
        ControlMessage::new_unchecked(&mut *out).set_header(self.message_type());
        let b = out;
        match *self {
            ControlRepr::Sccrq(m) => {
                put_u16(b, 12, m.protocol_version);
                put_u32(b, 16, m.framing_capabilities.0);
                put_u32(b, 20, m.bearer_capabilities.0);
                put_u16(b, 24, m.maximum_channels);
                put_u16(b, 26, m.firmware_revision);
                put_padded(b, 28, NAME_FIELD_LEN, m.host_name);
                put_padded(b, 92, NAME_FIELD_LEN, m.vendor_string);
            }
            ControlRepr::Sccrp(m) => {
                put_u16(b, 12, m.protocol_version);
                put_u8(b, 14, m.result.into());
                put_u8(b, 15, m.error.into());
                put_u32(b, 16, m.framing_capabilities.0);
                put_u32(b, 20, m.bearer_capabilities.0);
                put_u16(b, 24, m.maximum_channels);
                put_u16(b, 26, m.firmware_revision);
                put_padded(b, 28, NAME_FIELD_LEN, m.host_name);
                put_padded(b, 92, NAME_FIELD_LEN, m.vendor_string);
            }
            ControlRepr::StopCcrq(m) => put_u8(b, 12, m.reason.into()),
            ControlRepr::StopCcrp(m) => {
                put_u8(b, 12, m.result.into());
                put_u8(b, 13, m.error.into());
            }
            ControlRepr::EchoRequest(m) => put_u32(b, 12, m.identifier),
            ControlRepr::EchoReply(m) => {
                put_u32(b, 12, m.identifier);
                put_u8(b, 16, m.result.into());
                put_u8(b, 17, m.error.into());
            }
            ControlRepr::Ocrq(m) => {
                put_u16(b, 12, m.call_id);
                put_u16(b, 14, m.call_serial_number);
                put_u32(b, 16, m.minimum_bps);
                put_u32(b, 20, m.maximum_bps);
                put_u32(b, 24, m.bearer_type.0);
                put_u32(b, 28, m.framing_type.0);
                put_u16(b, 32, m.packet_recv_window_size);
                put_u16(b, 34, m.packet_processing_delay);
                put_u16(b, 36, m.phone_number_length);
                put_padded(b, 40, NAME_FIELD_LEN, m.phone_number);
                put_padded(b, 104, NAME_FIELD_LEN, m.subaddress);
            }
            ControlRepr::Ocrp(m) => {
                put_u16(b, 12, m.call_id);
                put_u16(b, 14, m.peer_call_id);
                put_u8(b, 16, m.result.into());
                put_u8(b, 17, m.error.into());
                put_u16(b, 18, m.cause_code);
                put_u32(b, 20, m.connect_speed);
                put_u16(b, 24, m.packet_recv_window_size);
                put_u16(b, 26, m.packet_processing_delay);
                put_u32(b, 28, m.physical_channel_id);
            }
            ControlRepr::Icrq(m) => {
                put_u16(b, 12, m.call_id);
                put_u16(b, 14, m.call_serial_number);
                put_u32(b, 16, m.call_bearer_type.0);
                put_u32(b, 20, m.physical_channel_id);
                put_u16(b, 24, m.dialed_number_length);
                put_u16(b, 26, m.dialing_number_length);
                put_padded(b, 28, NAME_FIELD_LEN, m.dialed_number);
                put_padded(b, 92, NAME_FIELD_LEN, m.dialing_number);
                put_padded(b, 156, NAME_FIELD_LEN, m.subaddress);
            }
            ControlRepr::Icrp(m) => {
                put_u16(b, 12, m.call_id);
                put_u16(b, 14, m.peer_call_id);
                put_u8(b, 16, m.result.into());
                put_u8(b, 17, m.error.into());
                put_u16(b, 18, m.packet_recv_window_size);
                put_u16(b, 20, m.packet_transmit_delay);
            }
            ControlRepr::Iccn(m) => {
                put_u16(b, 12, m.peer_call_id);
                put_u32(b, 16, m.connect_speed);
                put_u16(b, 20, m.packet_recv_window_size);
                put_u16(b, 22, m.packet_transmit_delay);
                put_u32(b, 24, m.framing_type.0);
            }
            ControlRepr::Ccrq(m) => put_u16(b, 12, m.call_id),
            ControlRepr::Cdn(m) => {
                put_u16(b, 12, m.call_id);
                put_u8(b, 14, m.result.into());
                put_u8(b, 15, m.error.into());
                put_u16(b, 16, m.cause_code);
                put_padded(b, 20, STATS_FIELD_LEN, m.call_statistics);
            }
            ControlRepr::Wen(m) => {
                put_u16(b, 12, m.peer_call_id);
                put_u32(b, 16, m.crc_errors);
                put_u32(b, 20, m.framing_errors);
                put_u32(b, 24, m.hardware_overruns);
                put_u32(b, 28, m.buffer_overruns);
                put_u32(b, 32, m.timeout_errors);
                put_u32(b, 36, m.alignment_errors);
            }
            ControlRepr::Sli(m) => {
                put_u16(b, 12, m.peer_call_id);
                put_u32(b, 16, m.send_accm);
                put_u32(b, 20, m.receive_accm);
            }
        }
        Ok(len)
    }

    fn check_fields(&self) -> Result<(), WireError> {
        match *self {
            ControlRepr::Sccrq(Sccrq {
                host_name,
                vendor_string,
                ..
            })
            | ControlRepr::Sccrp(Sccrp {
                host_name,
                vendor_string,
                ..
            }) => {
                check_field("host_name", host_name, NAME_FIELD_LEN)?;
                check_field("vendor_string", vendor_string, NAME_FIELD_LEN)
            }
            ControlRepr::Ocrq(m) => {
                check_field("phone_number", m.phone_number, NAME_FIELD_LEN)?;
                check_field("subaddress", m.subaddress, NAME_FIELD_LEN)
            }
            ControlRepr::Icrq(m) => {
                check_field("dialed_number", m.dialed_number, NAME_FIELD_LEN)?;
                check_field("dialing_number", m.dialing_number, NAME_FIELD_LEN)?;
                check_field("subaddress", m.subaddress, NAME_FIELD_LEN)
            }
            ControlRepr::Cdn(m) => {
                check_field("call_statistics", m.call_statistics, STATS_FIELD_LEN)
            }
            _ => Ok(()),
        }
    }
}

/// Checks the header of a possibly incomplete message prefix.
///
/// Returns `Ok(None)` if fewer than 12 octets are present, `Ok(Some(len))`
/// with the message's full length once the header checks pass, and the
/// header's error otherwise. Used by the stream reassembler to decide as
/// early as possible whether the byte stream is still in step.
pub fn check_prefix(prefix: &[u8]) -> Result<Option<usize>, WireError> {
    if prefix.len() < HEADER_LEN {
        return Ok(None);
    }
    check_header(prefix).map(|t| Some(t.length()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn lengths_match_rfc_and_fit_max() {
        let max = MessageType::ALL.iter().map(|t| t.length()).max();
        assert_eq!(max, Some(MAX_MESSAGE_LEN));
        for (i, t) in MessageType::ALL.iter().enumerate() {
            assert_eq!(usize::from(t.as_u16()), i + 1);
            assert_eq!(MessageType::from_u16(t.as_u16()), Some(*t));
        }
        assert_eq!(MessageType::from_u16(0), None);
        assert_eq!(MessageType::from_u16(16), None);
    }

    #[test]
    fn code_enums_round_trip_every_octet() {
        for v in 0..=255u8 {
            assert_eq!(u8::from(GeneralError::from(v)), v);
            assert_eq!(u8::from(StartControlResult::from(v)), v);
            assert_eq!(u8::from(StopReason::from(v)), v);
            assert_eq!(u8::from(OutgoingCallResult::from(v)), v);
            assert_eq!(u8::from(DisconnectResult::from(v)), v);
        }
        assert_eq!(GeneralError::from(4), GeneralError::NoResource);
        assert_eq!(OutgoingCallResult::from(9), OutgoingCallResult::Other(9));
    }

    #[test]
    fn emit_rejects_small_buffer_and_long_fields() {
        let repr = ControlRepr::EchoRequest(EchoRequest { identifier: 7 });
        let mut small = [0u8; 15];
        assert_eq!(
            repr.emit(&mut small),
            Err(WireError::BufferTooSmall {
                needed: 16,
                got: 15
            })
        );
        let long = [b'a'; 65];
        let repr = ControlRepr::Sccrq(Sccrq {
            protocol_version: PROTOCOL_VERSION,
            framing_capabilities: FramingCapabilities::ASYNC,
            bearer_capabilities: BearerCapabilities::ANALOG,
            maximum_channels: 0,
            firmware_revision: 0,
            host_name: &long,
            vendor_string: b"",
        });
        let mut buf = [0u8; MAX_MESSAGE_LEN];
        assert_eq!(
            repr.emit(&mut buf),
            Err(WireError::FieldTooLong {
                field: "host_name",
                len: 65
            })
        );
        assert!(buf.iter().all(|&b| b == 0), "nothing written on error");
    }

    #[test]
    fn full_width_name_without_nul_and_non_utf8() {
        let name = [0xffu8; 64];
        let repr = ControlRepr::Sccrq(Sccrq {
            protocol_version: PROTOCOL_VERSION,
            framing_capabilities: FramingCapabilities::EITHER,
            bearer_capabilities: BearerCapabilities::ANY,
            maximum_channels: 1,
            firmware_revision: 2,
            host_name: &name,
            vendor_string: &[0xc3, 0x28],
        });
        let mut buf = [0u8; MAX_MESSAGE_LEN];
        let n = repr.emit(&mut buf).unwrap();
        assert_eq!(ControlRepr::parse_bytes(&buf[..n]), Ok(repr));
    }

    #[test]
    fn unchecked_view_getters_never_panic() {
        let view = ControlMessage::new_unchecked(&[0x00u8, 0x10][..]);
        assert_eq!(view.length(), 16);
        assert_eq!(view.magic_cookie(), 0);
        assert_eq!(view.message(), &[0x00, 0x10]);
        assert_eq!(check_prefix(&[0u8; 3]), Ok(None));
    }
}
