//! The tokenizer: turns selector text into tokens one at a time, without
//! allocating. Operator keywords are recognised only right after a label.

use crate::error::ParseError;

/// Longest label (identifier) accepted, in characters.
pub const MAX_LABEL_LEN: usize = 512;

/// What a token is; borrowed text points into the selector string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind<'a> {
    /// A label name, e.g. `app.kubernetes.io/name`.
    Label(&'a str),
    /// The contents of a quoted string literal.
    Str(&'a str),
    /// `has(label)` with its label.
    Has(&'a str),
    /// `all()`.
    All,
    /// `global()`.
    Global,
    /// `(`.
    LParen,
    /// `)`.
    RParen,
    /// `{`.
    LBrace,
    /// `}`.
    RBrace,
    /// `,`.
    Comma,
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `!`.
    Not,
    /// `&&`.
    And,
    /// `||`.
    Or,
    /// `contains`.
    Contains,
    /// `starts with`.
    StartsWith,
    /// `ends with`.
    EndsWith,
    /// `in`.
    In,
    /// `not in`.
    NotIn,
    /// End of input.
    Eof,
}

impl TokenKind<'_> {
    /// How the token reads in an error message.
    pub fn describe(&self) -> &'static str {
        match self {
            TokenKind::Label(_) => "label",
            TokenKind::Str(_) => "string literal",
            TokenKind::Has(_) => "has()",
            TokenKind::All => "all()",
            TokenKind::Global => "global()",
            TokenKind::LParen => "'('",
            TokenKind::RParen => "')'",
            TokenKind::LBrace => "'{'",
            TokenKind::RBrace => "'}'",
            TokenKind::Comma => "','",
            TokenKind::Eq => "'=='",
            TokenKind::Ne => "'!='",
            TokenKind::Not => "'!'",
            TokenKind::And => "'&&'",
            TokenKind::Or => "'||'",
            TokenKind::Contains => "'contains'",
            TokenKind::StartsWith => "'starts with'",
            TokenKind::EndsWith => "'ends with'",
            TokenKind::In => "'in'",
            TokenKind::NotIn => "'not in'",
            TokenKind::Eof => "end of selector",
        }
    }
}

/// A token and the byte offset where it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token<'a> {
    /// What the token is.
    pub kind: TokenKind<'a>,
    /// Byte offset of its first character in the input.
    pub start: usize,
}

/// Whether `b` may appear in a label: `[a-zA-Z0-9_./-]`.
pub fn is_label_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'/' | b'-')
}

/// Whether `s` is a label the tokenizer would accept as one token.
pub fn is_valid_label(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_LABEL_LEN && s.bytes().all(is_label_byte)
}

/// A streaming tokenizer over one selector string.
pub struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    after_label: bool,
}

impl<'a> Lexer<'a> {
    /// A tokenizer positioned at the start of `input`.
    pub fn new(input: &'a str) -> Self {
        Lexer {
            input,
            pos: 0,
            after_label: false,
        }
    }

    /// An error at byte offset `at`.
    pub fn error(&self, at: usize, reason: impl Into<String>) -> ParseError {
        ParseError::at_byte(self.input, at, reason)
    }

    /// The next token; `Eof` forever once the input is used up.
    pub fn next_token(&mut self) -> Result<Token<'a>, ParseError> {
        self.skip_blanks();
        let start = self.pos;
        let after_label = std::mem::replace(&mut self.after_label, false);
        let kind = if after_label {
            self.operator()?
        } else {
            self.ordinary()?
        };
        if matches!(kind, TokenKind::Label(_)) {
            self.after_label = true;
        }
        Ok(Token { kind, start })
    }

    fn rest(&self) -> &'a [u8] {
        &self.input.as_bytes()[self.pos..]
    }

    fn peek(&self) -> Option<u8> {
        self.rest().first().copied()
    }

    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    /// Consumes `word` if the input continues with it.
    fn eat(&mut self, word: &str) -> bool {
        if self.rest().starts_with(word.as_bytes()) {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    /// A token in a position where an operator must follow a label.
    fn operator(&mut self) -> Result<TokenKind<'a>, ParseError> {
        let start = self.pos;
        if self.eat("==") {
            return Ok(TokenKind::Eq);
        }
        if self.eat("!=") {
            return Ok(TokenKind::Ne);
        }
        if self.peek() == Some(b'=') {
            return Err(self.error(start, "expected '=='"));
        }
        let kind = if self.eat("contains") {
            Some(TokenKind::Contains)
        } else if self.eat("in") {
            Some(TokenKind::In)
        } else if self.eat("starts") {
            self.second_word("with", TokenKind::StartsWith)
        } else if self.eat("ends") {
            self.second_word("with", TokenKind::EndsWith)
        } else if self.eat("not") {
            self.second_word("in", TokenKind::NotIn)
        } else {
            None
        };
        match kind {
            Some(kind) if !self.peek().is_some_and(is_label_byte) => Ok(kind),
            _ => Err(self.error(start, "expected operator after label")),
        }
    }

    /// The second word of a two-word operator, after optional blanks.
    fn second_word(&mut self, word: &str, kind: TokenKind<'a>) -> Option<TokenKind<'a>> {
        self.skip_blanks();
        self.eat(word).then_some(kind)
    }

    /// A token anywhere except right after a label.
    fn ordinary(&mut self) -> Result<TokenKind<'a>, ParseError> {
        let start = self.pos;
        let Some(first) = self.peek() else {
            return Ok(TokenKind::Eof);
        };
        let single = match first {
            b'(' => Some(TokenKind::LParen),
            b')' => Some(TokenKind::RParen),
            b'{' => Some(TokenKind::LBrace),
            b'}' => Some(TokenKind::RBrace),
            b',' => Some(TokenKind::Comma),
            _ => None,
        };
        if let Some(kind) = single {
            self.pos += 1;
            return Ok(kind);
        }
        match first {
            b'"' | b'\'' => self.string(first),
            b'=' if self.eat("==") => Ok(TokenKind::Eq),
            b'=' => Err(self.error(start, "expected '=='")),
            b'!' if self.eat("!=") => Ok(TokenKind::Ne),
            b'!' => {
                self.pos += 1;
                Ok(TokenKind::Not)
            }
            b'&' if self.eat("&&") => Ok(TokenKind::And),
            b'&' => Err(self.error(start, "expected '&&'")),
            b'|' if self.eat("||") => Ok(TokenKind::Or),
            b'|' => Err(self.error(start, "expected '||'")),
            _ if self.eat("has(") => self.has(),
            _ if self.eat("all(") => self.empty_call(TokenKind::All),
            _ if self.eat("global(") => self.empty_call(TokenKind::Global),
            b if is_label_byte(b) => Ok(TokenKind::Label(self.label()?)),
            _ => {
                let c = self.input[start..].chars().next().unwrap_or_default();
                Err(self.error(start, format!("unexpected character {c:?}")))
            }
        }
    }

    /// A string literal opened by `quote`; runs to the next identical quote.
    fn string(&mut self, quote: u8) -> Result<TokenKind<'a>, ParseError> {
        let open = self.pos;
        let body = open + 1;
        match self.input.as_bytes()[body..]
            .iter()
            .position(|&b| b == quote)
        {
            Some(len) => {
                self.pos = body + len + 1;
                Ok(TokenKind::Str(&self.input[body..body + len]))
            }
            None => Err(self.error(open, "unterminated string")),
        }
    }

    /// A label at the current position (at least one label character).
    fn label(&mut self) -> Result<&'a str, ParseError> {
        let start = self.pos;
        let len = self
            .rest()
            .iter()
            .take_while(|&&b| is_label_byte(b))
            .count();
        if len > MAX_LABEL_LEN {
            return Err(self.error(
                start,
                format!("label too long ({len} characters, at most {MAX_LABEL_LEN})"),
            ));
        }
        self.pos += len;
        Ok(&self.input[start..self.pos])
    }

    /// The rest of `has(` ... `)`.
    fn has(&mut self) -> Result<TokenKind<'a>, ParseError> {
        self.skip_blanks();
        if !self.peek().is_some_and(is_label_byte) {
            return Err(self.error(self.pos, "expected label in has()"));
        }
        let label = self.label()?;
        self.closing_paren()?;
        Ok(TokenKind::Has(label))
    }

    /// The rest of `all(` or `global(`: blanks then `)`.
    fn empty_call(&mut self, kind: TokenKind<'a>) -> Result<TokenKind<'a>, ParseError> {
        self.closing_paren()?;
        Ok(kind)
    }

    fn closing_paren(&mut self) -> Result<(), ParseError> {
        self.skip_blanks();
        if self.eat(")") {
            Ok(())
        } else {
            Err(self.error(self.pos, "expected ')'"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Result<Vec<TokenKind<'_>>, ParseError> {
        let mut lexer = Lexer::new(s);
        let mut out = Vec::new();
        loop {
            let token = lexer.next_token()?;
            if token.kind == TokenKind::Eof {
                return Ok(out);
            }
            out.push(token.kind);
        }
    }

    #[test]
    fn blanks_are_only_space_and_tab() {
        assert_eq!(kinds(" \t all() \t").unwrap(), vec![TokenKind::All]);
        let err = kinds("all()\n").unwrap_err();
        assert_eq!(err.position, 5);
        assert!(err.reason.starts_with("unexpected character"));
    }

    #[test]
    fn labels_take_all_label_characters() {
        assert_eq!(
            kinds("app.kubernetes.io/name-x_1 ==").unwrap(),
            vec![
                TokenKind::Label("app.kubernetes.io/name-x_1"),
                TokenKind::Eq
            ]
        );
    }

    #[test]
    fn label_length_limit_is_512() {
        let ok = format!("{} == 'x'", "a".repeat(512));
        assert_eq!(kinds(&ok).unwrap().len(), 3);
        let long = format!("  {} == 'x'", "a".repeat(513));
        let err = kinds(&long).unwrap_err();
        assert_eq!(err.position, 2);
        assert!(err.reason.starts_with("label too long"));
    }

    #[test]
    fn strings_have_no_escapes_and_either_quote() {
        assert_eq!(
            kinds(r#""it's" "a\" 'b"#).unwrap_err(),
            ParseError::at_byte(r#""it's" "a\" 'b"#, 12, "unterminated string")
        );
        assert_eq!(
            kinds(r#""it's" 'say "hi"' "a\" ''"#).unwrap(),
            vec![
                TokenKind::Str("it's"),
                TokenKind::Str("say \"hi\""),
                TokenKind::Str("a\\"),
                TokenKind::Str(""),
            ]
        );
    }

    #[test]
    fn ne_is_recognised_before_not() {
        assert_eq!(kinds("!=").unwrap(), vec![TokenKind::Ne]);
        assert_eq!(kinds("! =").unwrap_err().reason, "expected '=='");
        assert_eq!(kinds("!!").unwrap(), vec![TokenKind::Not, TokenKind::Not]);
    }

    #[test]
    fn keywords_only_after_a_label() {
        assert_eq!(
            kinds("in in").unwrap(),
            vec![TokenKind::Label("in"), TokenKind::In]
        );
        assert_eq!(
            kinds("not notin").unwrap(),
            vec![TokenKind::Label("not"), TokenKind::NotIn]
        );
    }

    #[test]
    fn multi_word_operators_take_any_blanks() {
        for (text, op) in [
            ("a starts with", TokenKind::StartsWith),
            ("a startswith", TokenKind::StartsWith),
            ("a starts \t with", TokenKind::StartsWith),
            ("a endswith", TokenKind::EndsWith),
            ("a not in", TokenKind::NotIn),
            ("a notin", TokenKind::NotIn),
            ("a contains", TokenKind::Contains),
            ("a in", TokenKind::In),
        ] {
            assert_eq!(
                kinds(text).unwrap(),
                vec![TokenKind::Label("a"), op],
                "{text}"
            );
        }
    }

    #[test]
    fn operator_words_end_at_a_word_boundary() {
        for text in [
            "a inf 'x'",
            "a containsx 'x'",
            "a startswithx 'x'",
            "a notinx {}",
        ] {
            let err = kinds(text).unwrap_err();
            assert_eq!(err.reason, "expected operator after label", "{text}");
            assert_eq!(err.position, 2, "{text}");
        }
        assert_eq!(
            kinds("a in{").unwrap(),
            vec![TokenKind::Label("a"), TokenKind::In, TokenKind::LBrace]
        );
    }

    #[test]
    fn functions_need_the_paren_right_after_the_name() {
        assert_eq!(kinds("has( a )").unwrap(), vec![TokenKind::Has("a")]);
        assert_eq!(kinds("all( )").unwrap(), vec![TokenKind::All]);
        assert_eq!(kinds("global()").unwrap(), vec![TokenKind::Global]);
        assert_eq!(
            kinds("has (a)").unwrap_err().reason,
            "expected operator after label"
        );
        let err = kinds("has( )").unwrap_err();
        assert_eq!(
            (err.position, err.reason.as_str()),
            (5, "expected label in has()")
        );
        let err = kinds("has(a b)").unwrap_err();
        assert_eq!((err.position, err.reason.as_str()), (6, "expected ')'"));
        assert_eq!(kinds("all(x)").unwrap_err().reason, "expected ')'");
    }

    #[test]
    fn single_ampersand_pipe_and_equals_fail() {
        assert_eq!(kinds("&").unwrap_err().reason, "expected '&&'");
        assert_eq!(kinds("|").unwrap_err().reason, "expected '||'");
        assert_eq!(kinds("a = 'b'").unwrap_err().reason, "expected '=='");
        assert_eq!(kinds("=").unwrap_err().reason, "expected '=='");
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        let err = kinds("'é' ~").unwrap_err();
        assert_eq!(err.position, 4);
    }
}
