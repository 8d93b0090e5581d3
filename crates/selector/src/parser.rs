//! Recursive-descent parser: `||` binds loosest, then `&&`, then `!`.
//! Paren groups collapse into the expression they hold; `&&`/`||` chains
//! become one n-ary node; an even run of `!` cancels out.

use crate::ast::{CompareOp, Expr, ValueSet};
use crate::error::ParseError;
use crate::lexer::{Lexer, Token, TokenKind};

/// Deepest parenthesis nesting accepted. The tree is walked recursively when
/// parsed, evaluated, printed and dropped, so the limit keeps hostile input
/// from exhausting the stack.
pub const MAX_NESTING: usize = 256;

/// Parses selector text into an expression; blank text is `all()`.
pub fn parse_expr(input: &str) -> Result<Expr, ParseError> {
    let mut lexer = Lexer::new(input);
    let current = lexer.next_token()?;
    let mut parser = Parser {
        lexer,
        current,
        depth: 0,
    };
    if parser.current.kind == TokenKind::Eof {
        return Ok(Expr::All);
    }
    let expr = parser.or_expr()?;
    match parser.current.kind {
        TokenKind::Eof => Ok(expr),
        _ => Err(parser.unexpected()),
    }
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    current: Token<'a>,
    depth: usize,
}

impl<'a> Parser<'a> {
    /// Moves to the next token, returning the one just passed.
    fn advance(&mut self) -> Result<Token<'a>, ParseError> {
        let next = self.lexer.next_token()?;
        Ok(std::mem::replace(&mut self.current, next))
    }

    fn error_here(&self, reason: impl Into<String>) -> ParseError {
        self.lexer.error(self.current.start, reason)
    }

    /// The error for a token that cannot appear where it is.
    fn unexpected(&self) -> ParseError {
        match self.current.kind {
            TokenKind::Eof => self.error_here("unexpected end of selector"),
            kind => self.error_here(format!("unexpected {}", kind.describe())),
        }
    }

    fn or_expr(&mut self) -> Result<Expr, ParseError> {
        let first = self.and_expr()?;
        if self.current.kind != TokenKind::Or {
            return Ok(first);
        }
        let mut operands = vec![first];
        while self.current.kind == TokenKind::Or {
            self.advance()?;
            operands.push(self.and_expr()?);
        }
        Ok(Expr::Or(operands))
    }

    fn and_expr(&mut self) -> Result<Expr, ParseError> {
        let first = self.unary()?;
        if self.current.kind != TokenKind::And {
            return Ok(first);
        }
        let mut operands = vec![first];
        while self.current.kind == TokenKind::And {
            self.advance()?;
            operands.push(self.unary()?);
        }
        Ok(Expr::And(operands))
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        let mut negated = false;
        while self.current.kind == TokenKind::Not {
            negated = !negated;
            self.advance()?;
        }
        let operand = self.primary()?;
        Ok(if negated {
            Expr::Not(Box::new(operand))
        } else {
            operand
        })
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        match self.current.kind {
            TokenKind::Has(label) => {
                self.advance()?;
                Ok(Expr::Has(label.to_owned()))
            }
            TokenKind::All => {
                self.advance()?;
                Ok(Expr::All)
            }
            TokenKind::Global => {
                self.advance()?;
                Ok(Expr::Global)
            }
            TokenKind::Label(label) => {
                self.advance()?;
                self.comparison(label)
            }
            TokenKind::LParen => self.group(),
            _ => Err(self.unexpected()),
        }
    }

    /// `( or_expr )`, with the nesting limit enforced.
    fn group(&mut self) -> Result<Expr, ParseError> {
        if self.depth == MAX_NESTING {
            return Err(self.error_here(format!("parentheses nested deeper than {MAX_NESTING}")));
        }
        self.depth += 1;
        self.advance()?;
        let inner = self.or_expr()?;
        if self.current.kind != TokenKind::RParen {
            return Err(self.error_here("expected ')'"));
        }
        self.advance()?;
        self.depth -= 1;
        Ok(inner)
    }

    /// The operator and operand after `label`.
    fn comparison(&mut self, label: &str) -> Result<Expr, ParseError> {
        let op = match self.current.kind {
            TokenKind::Eq => CompareOp::Eq,
            TokenKind::Ne => CompareOp::Ne,
            TokenKind::Contains => CompareOp::Contains,
            TokenKind::StartsWith => CompareOp::StartsWith,
            TokenKind::EndsWith => CompareOp::EndsWith,
            TokenKind::In | TokenKind::NotIn => {
                let negated = self.current.kind == TokenKind::NotIn;
                self.advance()?;
                let values = self.set_literal()?;
                let label = label.to_owned();
                return Ok(if negated {
                    Expr::NotIn { label, values }
                } else {
                    Expr::In { label, values }
                });
            }
            _ => return Err(self.error_here("expected operator after label")),
        };
        self.advance()?;
        let TokenKind::Str(value) = self.current.kind else {
            return Err(self.expected("string"));
        };
        self.advance()?;
        Ok(Expr::Compare {
            label: label.to_owned(),
            op,
            value: value.to_owned(),
        })
    }

    /// `{ "a", "b", }` (trailing comma allowed, empty set allowed).
    fn set_literal(&mut self) -> Result<ValueSet, ParseError> {
        if self.current.kind != TokenKind::LBrace {
            return Err(self.expected("'{'"));
        }
        self.advance()?;
        let mut values = Vec::new();
        loop {
            match self.current.kind {
                TokenKind::RBrace => break,
                TokenKind::Str(value) => {
                    values.push(value);
                    self.advance()?;
                    match self.current.kind {
                        TokenKind::Comma => {
                            self.advance()?;
                        }
                        TokenKind::RBrace => break,
                        _ => return Err(self.expected("',' or '}'")),
                    }
                }
                _ => return Err(self.expected("string or '}'")),
            }
        }
        self.advance()?;
        Ok(ValueSet::new(values))
    }

    /// "expected X", or "unexpected end of selector" at the end.
    fn expected(&self, what: &str) -> ParseError {
        match self.current.kind {
            TokenKind::Eof => {
                self.error_here(format!("unexpected end of selector, expected {what}"))
            }
            _ => self.error_here(format!("expected {what}")),
        }
    }
}
