//! The rules every value of the wizard must pass, written once: the browser runs them as the admin
//! types, the server runs them again as the authority before saving anything. Each rule returns the
//! exact words the admin sees, naming what is wrong and how to fix it.

pub mod dates;
pub mod endpoints;
pub mod identifiers;
pub mod mailbox;
pub mod operator_app;
pub mod scopes;
pub mod secret;
pub mod steps;
pub mod tenant;

use serde::{Deserialize, Serialize};

/// How serious a finding is: an error blocks saving the step, a warning is shown and allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warning,
}

/// What a rule found about one value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub level: Level,
    pub message: String,
}

impl Note {
    pub fn error(message: impl Into<String>) -> Note {
        Note {
            level: Level::Error,
            message: message.into(),
        }
    }

    pub fn warning(message: impl Into<String>) -> Note {
        Note {
            level: Level::Warning,
            message: message.into(),
        }
    }

    pub fn is_error(&self) -> bool {
        self.level == Level::Error
    }
}

/// The result of one rule: nothing to say, or a note.
pub type Check = Option<Note>;

/// One field's note, as sent to the browser and in `422` bodies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldNote {
    pub field: String,
    pub level: Level,
    pub message: String,
}

/// Findings for a whole step, keyed by the form field's name (the same name the HTML input, the
/// server function argument and the 422 response use).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Findings(pub Vec<FieldNote>);

impl Findings {
    pub fn add(&mut self, field: &str, check: Check) {
        if let Some(note) = check {
            self.0.push(FieldNote {
                field: field.to_string(),
                level: note.level,
                message: note.message,
            });
        }
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|n| n.level == Level::Error)
    }

    /// The note to show for a field: its error if it has one, else its warning.
    pub fn get(&self, field: &str) -> Option<Note> {
        self.0
            .iter()
            .filter(|n| n.field == field)
            .min_by_key(|n| n.level != Level::Error)
            .map(|n| Note {
                level: n.level,
                message: n.message.clone(),
            })
    }

    pub fn errors(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .filter(|n| n.level == Level::Error)
            .map(|n| (n.field.as_str(), n.message.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A refusal of one field: what a server check that no rule can run in the browser says.
    pub fn error(field: &str, message: impl Into<String>) -> Findings {
        let mut f = Findings::default();
        f.add(field, Some(Note::error(message)));
        f
    }
}
