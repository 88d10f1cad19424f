//! TACACS+ client (RFC 8907).
