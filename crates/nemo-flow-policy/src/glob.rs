//! Call-name globs for LLM triggers: `*` (any run of characters) and `?` (one character).

/// A compiled glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob(Vec<char>);

impl Glob {
    /// Compiles `pattern`.
    pub fn new(pattern: &str) -> Self {
        Self(pattern.chars().collect())
    }

    /// Whether `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        let (p, s): (&[char], Vec<char>) = (&self.0, name.chars().collect());
        // Iterative matcher with one backtrack point per `*`.
        let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
        while j < s.len() {
            if i < p.len() && (p[i] == '?' || p[i] == s[j]) {
                i += 1;
                j += 1;
            } else if i < p.len() && p[i] == '*' {
                star = Some(i);
                mark = j;
                i += 1;
            } else if let Some(st) = star {
                i = st + 1;
                mark += 1;
                j = mark;
            } else {
                return false;
            }
        }
        p[i..].iter().all(|c| *c == '*')
    }
}

#[cfg(test)]
mod tests {
    use super::Glob;

    #[test]
    fn stars_and_question_marks() {
        assert!(Glob::new("openai.*").matches("openai.chat"));
        assert!(!Glob::new("openai.*").matches("anthropic.messages"));
        assert!(Glob::new("*").matches(""));
        assert!(Glob::new("a?c*").matches("abcdef"));
        assert!(!Glob::new("a?c").matches("ac"));
        assert!(Glob::new("*gpt*mini").matches("openai-gpt-4o-mini"));
    }
}
