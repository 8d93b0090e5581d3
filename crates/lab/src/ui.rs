//! Terminal output for people: headings, notes, warnings and a spinner while things start.
//! Colour only when stdout is a terminal and NO_COLOR is unset (anstream decides); progress
//! goes to stderr and hides itself when stderr is not a terminal.

use std::time::Duration;

use anstream::ColorChoice;
use anstyle::{AnsiColor, Style};
use indicatif::{ProgressBar, ProgressStyle};

/// How output is decorated.
#[derive(Clone, Copy, Debug)]
pub struct Ui {
    pub color: bool,
}

impl Ui {
    /// Decides from the environment and whether stdout is a terminal.
    pub fn detect() -> Ui {
        let choice = anstream::AutoStream::choice(&std::io::stdout());
        Ui {
            color: !matches!(choice, ColorChoice::Never),
        }
    }

    fn paint(&self, style: Style, text: &str) -> String {
        if self.color {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    }

    pub fn heading(&self, text: &str) {
        let style = Style::new().bold().fg_color(Some(AnsiColor::Cyan.into()));
        println!("\n{}", self.paint(style, &format!("== {text} ==")));
    }

    pub fn ok(&self, text: &str) {
        let style = Style::new().fg_color(Some(AnsiColor::Green.into()));
        println!("{} {text}", self.paint(style, "ok"));
    }

    pub fn note(&self, text: &str) {
        let style = Style::new().fg_color(Some(AnsiColor::Yellow.into()));
        println!("{} {text}", self.paint(style, "note:"));
    }

    pub fn command(&self, text: &str) {
        let style = Style::new().dimmed();
        println!("{}", self.paint(style, &format!("$ {text}")));
    }

    /// A spinner on stderr with a message, for work that takes a moment.
    pub fn spinner(&self, message: &str) -> ProgressBar {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    }
}

/// Warnings go to stderr, coloured when stderr is a terminal.
pub fn warn(text: &str) {
    let color = !matches!(
        anstream::AutoStream::choice(&std::io::stderr()),
        ColorChoice::Never
    );
    let style = Style::new().bold().fg_color(Some(AnsiColor::Yellow.into()));
    if color {
        eprintln!("{style}warning:{style:#} {text}");
    } else {
        eprintln!("warning: {text}");
    }
}
