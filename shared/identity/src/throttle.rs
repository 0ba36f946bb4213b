//! Sign-in throttles ([`cp_platform::throttle`], the one counter every
//! component uses):
//!
//! - failed password logins, per account (the typed email) and per source
//!   address: an attempt reserves a slot in both counters *before* the
//!   argon2 check, so however many arrive at once, at most `max` checks run
//!   per window; a successful login gives its slots back, so the counters
//!   count failures;
//! - signups and device-login starts, per source address (each writes rows).

pub use cp_platform::throttle::{client_address, release, reserve, Reservation, Throttle};

/// Failed password logins of one account (by email).
pub const LOGIN_ACCOUNT: Throttle = Throttle {
    tag: "login-account",
    what: "too many failed sign-ins for this account",
    max_variable: "login_max_failures_per_account",
    max: 10,
    window_variable: "login_window_secs",
    window_secs: 900,
};

/// Failed password logins from one address.
pub const LOGIN_ADDRESS: Throttle = Throttle {
    tag: "login-address",
    what: "too many failed sign-ins from this address",
    max_variable: "login_max_failures_per_address",
    max: 100,
    window_variable: "login_window_secs",
    window_secs: 900,
};

/// Signups from one address.
pub const SIGNUP: Throttle = Throttle {
    tag: "signup-address",
    what: "too many signups from this address",
    max_variable: "signup_max_per_address",
    max: 20,
    window_variable: "signup_window_secs",
    window_secs: 3600,
};

/// Device-login starts from one address.
pub const DEVICE_START: Throttle = Throttle {
    tag: "device-start-address",
    what: "too many device logins started from this address",
    max_variable: "device_start_max_per_address",
    max: 30,
    window_variable: "device_start_window_secs",
    window_secs: 600,
};
