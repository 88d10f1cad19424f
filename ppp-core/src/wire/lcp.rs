//! LCP options.
