//! The three service states of the original: UP, RECOVER and FAIL.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum State {
    /// The service does its job on this host.
    Up,
    /// Not running, but may be started at any time.
    Recover,
    /// Cannot be brought up until an operator or a script sets RECOVER.
    Fail,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Up => "UP",
            State::Recover => "RECOVER",
            State::Fail => "FAIL",
        }
    }

    /// UP or RECOVER: a master in either state forbids the local host to run the service.
    pub fn is_available(self) -> bool {
        matches!(self, State::Up | State::Recover)
    }

    pub(crate) fn to_wire(self) -> u8 {
        match self {
            State::Up => 1,
            State::Recover => 2,
            State::Fail => 3,
        }
    }

    pub(crate) fn from_wire(byte: u8) -> Option<State> {
        match byte {
            1 => Some(State::Up),
            2 => Some(State::Recover),
            3 => Some(State::Fail),
            _ => None,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseStateError(pub String);

impl fmt::Display for ParseStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "\"{}\" is not a state (expected UP, RECOVER or FAIL)",
            self.0
        )
    }
}

impl std::error::Error for ParseStateError {}

impl FromStr for State {
    type Err = ParseStateError;

    /// Accepts what the seed's procedures return (`return "UP"`), in any case and with
    /// surrounding white space or a trailing newline, since procedures often echo a script's
    /// output. Anything else is an error: a procedure that returns garbage is not trusted.
    fn from_str(text: &str) -> Result<State, ParseStateError> {
        let word = text.trim();
        if word.eq_ignore_ascii_case("UP") {
            Ok(State::Up)
        } else if word.eq_ignore_ascii_case("RECOVER") {
            Ok(State::Recover)
        } else if word.eq_ignore_ascii_case("FAIL") {
            Ok(State::Fail)
        } else {
            Err(ParseStateError(text.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_seed_procedures_return() {
        assert_eq!("UP".parse(), Ok(State::Up));
        assert_eq!("RECOVER".parse(), Ok(State::Recover));
        assert_eq!("FAIL".parse(), Ok(State::Fail));
        assert_eq!(" up\n".parse(), Ok(State::Up));
        assert_eq!("Recover".parse(), Ok(State::Recover));
    }

    #[test]
    fn rejects_anything_that_is_not_a_state() {
        for bad in ["", "UPP", "DOWN", "1", "UP RECOVER"] {
            assert!(bad.parse::<State>().is_err(), "{bad:?} must not parse");
        }
        assert_eq!(
            "DOWN".parse::<State>().unwrap_err().to_string(),
            "\"DOWN\" is not a state (expected UP, RECOVER or FAIL)"
        );
    }

    #[test]
    fn wire_bytes_round_trip() {
        for state in [State::Up, State::Recover, State::Fail] {
            assert_eq!(State::from_wire(state.to_wire()), Some(state));
        }
        assert_eq!(State::from_wire(0), None);
        assert_eq!(State::from_wire(4), None);
    }
}
