//! What a case is about: categories, their sub-categories and the root causes an investigation
//! may find, held as configuration (TOML; the default is embedded, `config/taxonomy.toml`). Each
//! category, or a sub-category on its own, says where it sits in the service standard's
//! severity rule ([`Standard`]); the rule itself is [`super::case::severity_by_standard`].

use std::collections::BTreeMap;

use serde::Deserialize;

/// The embedded default taxonomy.
pub const DEFAULT_TAXONOMY: &str = include_str!("../../config/taxonomy.toml");

/// Where a category sits in the service standard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Standard {
    Safety,
    BillingDispute,
    FailedFulfilment,
    ServiceQuality,
    Other,
}

impl Standard {
    pub fn text(self) -> &'static str {
        match self {
            Standard::Safety => "safety",
            Standard::BillingDispute => "billing dispute",
            Standard::FailedFulfilment => "failed fulfilment",
            Standard::ServiceQuality => "service quality",
            Standard::Other => "other",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubCategory {
    pub code: String,
    pub name: String,
    pub standard: Standard,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    pub code: String,
    pub name: String,
    pub standard: Standard,
    pub sub_categories: Vec<SubCategory>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootCause {
    pub code: String,
    pub name: String,
}

/// The taxonomy, checked: codes unique, every category with at least one sub-category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taxonomy {
    categories: Vec<Category>,
    root_causes: Vec<RootCause>,
    index: BTreeMap<String, usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaxonomyError {
    #[error("taxonomy: {0}")]
    Syntax(String),
    #[error("taxonomy: category code {0:?} appears twice")]
    DuplicateCategory(String),
    #[error("taxonomy: sub-category {sub:?} appears twice in {category:?}")]
    DuplicateSubCategory { category: String, sub: String },
    #[error("taxonomy: category {0:?} has no sub-categories")]
    Empty(String),
    #[error("taxonomy: root cause {0:?} appears twice")]
    DuplicateRootCause(String),
    #[error("taxonomy: {0:?} is not a code (1 to 40 of a-z, 0-9 and _)")]
    BadCode(String),
    #[error("taxonomy: there are no categories")]
    NoCategories,
}

/// Why a (category, sub-category) pair is refused; the API names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClassifyError {
    #[error("unknown category {given:?}; one of: {known}")]
    UnknownCategory { given: String, known: String },
    #[error("unknown sub-category {given:?} of {category}; one of: {known}")]
    UnknownSubCategory {
        category: String,
        given: String,
        known: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    category: Vec<CategoryFile>,
    #[serde(default)]
    root_cause: Vec<RootCauseFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CategoryFile {
    code: String,
    name: String,
    standard: Standard,
    sub_categories: Vec<SubFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubFile {
    code: String,
    name: String,
    standard: Option<Standard>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RootCauseFile {
    code: String,
    name: String,
}

fn is_code(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl Taxonomy {
    /// The embedded default.
    pub fn embedded() -> Result<Self, TaxonomyError> {
        Self::from_toml(DEFAULT_TAXONOMY)
    }

    pub fn from_toml(text: &str) -> Result<Self, TaxonomyError> {
        let file: File = toml::from_str(text).map_err(|e| TaxonomyError::Syntax(e.to_string()))?;
        if file.category.is_empty() {
            return Err(TaxonomyError::NoCategories);
        }
        let mut categories = Vec::new();
        let mut index = BTreeMap::new();
        for c in file.category {
            if !is_code(&c.code) {
                return Err(TaxonomyError::BadCode(c.code));
            }
            if index.insert(c.code.clone(), categories.len()).is_some() {
                return Err(TaxonomyError::DuplicateCategory(c.code));
            }
            if c.sub_categories.is_empty() {
                return Err(TaxonomyError::Empty(c.code));
            }
            let mut subs: Vec<SubCategory> = Vec::new();
            for s in c.sub_categories {
                if !is_code(&s.code) {
                    return Err(TaxonomyError::BadCode(s.code));
                }
                if subs.iter().any(|x| x.code == s.code) {
                    return Err(TaxonomyError::DuplicateSubCategory {
                        category: c.code,
                        sub: s.code,
                    });
                }
                subs.push(SubCategory {
                    code: s.code,
                    name: s.name,
                    standard: s.standard.unwrap_or(c.standard),
                });
            }
            categories.push(Category {
                code: c.code,
                name: c.name,
                standard: c.standard,
                sub_categories: subs,
            });
        }
        let mut root_causes: Vec<RootCause> = Vec::new();
        for r in file.root_cause {
            if !is_code(&r.code) {
                return Err(TaxonomyError::BadCode(r.code));
            }
            if root_causes.iter().any(|x| x.code == r.code) {
                return Err(TaxonomyError::DuplicateRootCause(r.code));
            }
            root_causes.push(RootCause {
                code: r.code,
                name: r.name,
            });
        }
        Ok(Self {
            categories,
            root_causes,
            index,
        })
    }

    pub fn categories(&self) -> &[Category] {
        &self.categories
    }

    pub fn root_causes(&self) -> &[RootCause] {
        &self.root_causes
    }

    pub fn category(&self, code: &str) -> Option<&Category> {
        self.index.get(code).and_then(|&i| self.categories.get(i))
    }

    /// The standard of `sub` in `category`, or why the pair is not in the taxonomy.
    pub fn classify(&self, category: &str, sub: &str) -> Result<Standard, ClassifyError> {
        let Some(c) = self.category(category) else {
            return Err(ClassifyError::UnknownCategory {
                given: category.to_owned(),
                known: self
                    .categories
                    .iter()
                    .map(|c| c.code.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        match c.sub_categories.iter().find(|s| s.code == sub) {
            Some(s) => Ok(s.standard),
            None => Err(ClassifyError::UnknownSubCategory {
                category: c.code.clone(),
                given: sub.to_owned(),
                known: c
                    .sub_categories
                    .iter()
                    .map(|s| s.code.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    pub fn is_root_cause(&self, code: &str) -> bool {
        self.root_causes.iter().any(|r| r.code == code)
    }

    pub fn root_cause_codes(&self) -> String {
        self.root_causes
            .iter()
            .map(|r| r.code.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_embedded_taxonomy_has_the_five_categories_and_their_standards() {
        let t = Taxonomy::embedded().unwrap();
        let codes: Vec<&str> = t.categories().iter().map(|c| c.code.as_str()).collect();
        assert_eq!(codes, ["fulfilment", "vehicle", "billing", "service", "safety"]);
        assert_eq!(t.classify("billing", "overcharge"), Ok(Standard::BillingDispute));
        assert_eq!(t.classify("billing", "invoice"), Ok(Standard::Other));
        assert_eq!(t.classify("vehicle", "breakdown"), Ok(Standard::Safety));
        assert_eq!(t.classify("fulfilment", "no_car"), Ok(Standard::FailedFulfilment));
        assert_eq!(t.classify("service", "staff_attitude"), Ok(Standard::ServiceQuality));
        assert!(t.is_root_cause("pricing_error"));
        assert!(!t.is_root_cause("bad_luck"));
    }

    #[test]
    fn unknown_codes_are_refused_with_what_is_known() {
        let t = Taxonomy::embedded().unwrap();
        match t.classify("weather", "rain") {
            Err(ClassifyError::UnknownCategory { known, .. }) => assert!(known.contains("billing")),
            other => panic!("{other:?}"),
        }
        match t.classify("billing", "rain") {
            Err(ClassifyError::UnknownSubCategory { known, .. }) => assert!(known.contains("overcharge")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_taxonomy_file_with_twice_the_same_code_or_an_empty_category_is_refused() {
        let twice = r#"
[[category]]
code = "a"
name = "A"
standard = "other"
sub_categories = [{ code = "x", name = "X" }]
[[category]]
code = "a"
name = "A again"
standard = "other"
sub_categories = [{ code = "y", name = "Y" }]
"#;
        assert_eq!(
            Taxonomy::from_toml(twice),
            Err(TaxonomyError::DuplicateCategory("a".into()))
        );
        let empty = r#"
[[category]]
code = "a"
name = "A"
standard = "other"
sub_categories = []
"#;
        assert_eq!(Taxonomy::from_toml(empty), Err(TaxonomyError::Empty("a".into())));
        assert!(matches!(
            Taxonomy::from_toml("category = 3"),
            Err(TaxonomyError::Syntax(_))
        ));
        let bad_standard = r#"
[[category]]
code = "a"
name = "A"
standard = "urgent"
sub_categories = [{ code = "x", name = "X" }]
"#;
        assert!(matches!(
            Taxonomy::from_toml(bad_standard),
            Err(TaxonomyError::Syntax(_))
        ));
    }
}
