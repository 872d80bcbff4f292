//! Pending prompts of one session and their exactly-once resolution.
//!
//! A prompt is pending from its `permission_requested` / `question_asked` event until
//! one `prompt_resolved` event. The actor owns this table; answers from any viewport
//! race through the actor's queue, so the first one wins and later ones learn the
//! winning [`Resolution`].

use std::collections::{BTreeMap, HashMap};

use berth_protocol::{Answer, AnswerValue, Event, Outcome, Prompt, Question, Resolution, Seq};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::SessionError;

/// One prompt waiting for a human.
pub(crate) struct Pending {
    pub seq: Seq,
    pub event: Event,
    /// Where the agent waits for the answer; `None` after a restart (no agent behind it).
    pub reply: Option<oneshot::Sender<Outcome>>,
    pub deadline: Option<Instant>,
}

#[derive(Default)]
pub(crate) struct Prompts {
    /// Keyed by prompt id; ids are time-ordered, so this lists prompts oldest first.
    pending: BTreeMap<String, Pending>,
    resolved: HashMap<String, Resolution>,
}

impl Prompts {
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn insert(&mut self, prompt_id: String, pending: Pending) {
        self.pending.insert(prompt_id, pending);
    }

    pub fn remember(&mut self, resolution: Resolution) {
        self.resolved
            .insert(resolution.prompt_id.clone(), resolution);
    }

    pub fn list(&self, session: &str) -> Vec<Prompt> {
        self.pending
            .values()
            .map(|p| Prompt {
                session: session.to_owned(),
                seq: p.seq,
                event: p.event.clone(),
            })
            .collect()
    }

    /// Check an answer against prompt `prompt_id` and take the prompt out of the table.
    /// Errors leave the table untouched.
    pub fn take_for_answer(
        &mut self,
        prompt_id: &str,
        answer: &Answer,
    ) -> Result<Pending, SessionError> {
        let Some(pending) = self.pending.get(prompt_id) else {
            return Err(match self.resolved.get(prompt_id) {
                Some(resolution) => SessionError::AlreadyResolved(Box::new(resolution.clone())),
                None => SessionError::NotFound(format!("no prompt {prompt_id} in this session")),
            });
        };
        validate(&pending.event, answer)?;
        Ok(self.pending.remove(prompt_id).expect("checked above"))
    }

    /// Take out every prompt (e.g. when their turn ends).
    pub fn take_all(&mut self) -> Vec<(String, Pending)> {
        std::mem::take(&mut self.pending).into_iter().collect()
    }

    /// Take out prompts whose deadline has passed.
    pub fn take_expired(&mut self, now: Instant) -> Vec<(String, Pending)> {
        let expired: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline.is_some_and(|d| d <= now))
            .map(|(id, _)| id.clone())
            .collect();
        expired
            .into_iter()
            .filter_map(|id| self.pending.remove(&id).map(|p| (id, p)))
            .collect()
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.values().filter_map(|p| p.deadline).min()
    }
}

/// An answer must fit its prompt: a listed option for a permission, answers to the
/// asked questions (from the offered options unless free text is allowed) for a question.
fn validate(event: &Event, answer: &Answer) -> Result<(), SessionError> {
    match (event, answer) {
        (_, Answer::Cancel { cancel: true }) => Ok(()),
        (_, Answer::Cancel { cancel: false }) => Err(SessionError::BadRequest(
            "`cancel` must be true when given".into(),
        )),
        (Event::PermissionRequested { options, .. }, Answer::Select { option_id }) => {
            if options.iter().any(|o| &o.option_id == option_id) {
                Ok(())
            } else {
                let known: Vec<_> = options.iter().map(|o| o.option_id.as_str()).collect();
                Err(SessionError::BadRequest(format!(
                    "option `{option_id}` is not offered; choose one of {known:?}"
                )))
            }
        }
        (Event::QuestionAsked { questions, .. }, Answer::Answers { answers }) => {
            for key in answers.keys() {
                if !questions.iter().any(|q| &q.id == key) {
                    return Err(SessionError::BadRequest(format!(
                        "no question `{key}` was asked"
                    )));
                }
            }
            let mut answered = false;
            for q in questions {
                let Some(value) = answers.get(&q.id) else {
                    if q.optional {
                        continue;
                    }
                    return Err(SessionError::BadRequest(format!(
                        "question `{}` is not answered",
                        q.id
                    )));
                };
                answered |= validate_answer(q, value)?;
            }
            // A form whose every question is optional still needs some answer: an empty
            // submission would tell the agent "accepted" with nothing in it.
            if !answered {
                return Err(SessionError::BadRequest(
                    "answer at least one question, or cancel the prompt".into(),
                ));
            }
            Ok(())
        }
        (Event::PermissionRequested { .. }, _) => Err(SessionError::BadRequest(
            "a permission request is answered with `option_id` or `cancel`".into(),
        )),
        (_, _) => Err(SessionError::BadRequest(
            "a question is answered with `answers` or `cancel`".into(),
        )),
    }
}

/// One question's answer; whether it gives anything. A `multiple` question takes
/// distinct choices (read by `AnswerValue::choices`, exactly as the agent will get them),
/// each an offered option unless free text is allowed; no choice leaves it unanswered,
/// which only an optional question may be. Any other question takes one string, from its
/// options unless free text is allowed.
fn validate_answer(q: &Question, value: &AnswerValue) -> Result<bool, SessionError> {
    let id = &q.id;
    let closed = q.options.as_ref().filter(|_| !q.free_text);
    if !q.multiple {
        let AnswerValue::One(value) = value else {
            return Err(SessionError::BadRequest(format!(
                "question `{id}` takes one answer, not a list"
            )));
        };
        // An optional field may be submitted empty, as forms do.
        if q.optional && value.is_empty() {
            return Ok(false);
        }
        return match closed {
            Some(options) if !options.contains(value) => Err(SessionError::BadRequest(format!(
                "`{value}` is not an option of question `{id}`; choose one of {options:?}"
            ))),
            _ => Ok(!value.is_empty()),
        };
    }
    let choices = value.choices(q.options.as_deref());
    if choices.is_empty() && !q.optional {
        return Err(SessionError::BadRequest(format!(
            "question `{id}` is not answered (choose one or more)"
        )));
    }
    for (i, choice) in choices.iter().enumerate() {
        if choice.is_empty() {
            return Err(SessionError::BadRequest(format!(
                "question `{id}`: a choice is empty"
            )));
        }
        if choices[..i].contains(choice) {
            return Err(SessionError::BadRequest(format!(
                "question `{id}`: `{choice}` is chosen twice"
            )));
        }
        if let Some(options) = closed
            && !options.contains(choice)
        {
            return Err(SessionError::BadRequest(format!(
                "`{choice}` is not an option of question `{id}`; choose from {options:?}"
            )));
        }
    }
    Ok(!choices.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_protocol::{PermissionOption, PermissionOptionKind};

    fn permission() -> Pending {
        Pending {
            seq: 4,
            event: Event::PermissionRequested {
                turn_id: "t".into(),
                prompt_id: "p1".into(),
                tool_call_id: None,
                title: "Run it?".into(),
                options: vec![PermissionOption {
                    option_id: "allow".into(),
                    name: "Allow".into(),
                    kind: PermissionOptionKind::AllowOnce,
                }],
            },
            reply: None,
            deadline: None,
        }
    }

    fn question() -> Pending {
        Pending {
            seq: 5,
            event: Event::QuestionAsked {
                turn_id: "t".into(),
                prompt_id: "p2".into(),
                message: "Pick".into(),
                questions: vec![Question {
                    id: "color".into(),
                    question: "Color?".into(),
                    options: Some(vec!["red".into(), "green".into()]),
                    free_text: false,
                    optional: false,
                    multiple: false,
                }],
            },
            reply: None,
            deadline: None,
        }
    }

    fn answers(pairs: &[(&str, &str)]) -> Answer {
        Answer::Answers {
            answers: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), (*v).into()))
                .collect(),
        }
    }

    #[test]
    fn bad_answers_leave_the_prompt_pending() {
        let mut prompts = Prompts::default();
        prompts.insert("p1".into(), permission());
        prompts.insert("p2".into(), question());
        let wrong_option = Answer::Select {
            option_id: "nope".into(),
        };
        for (id, answer) in [
            ("p1", wrong_option),
            ("p1", answers(&[("color", "red")])),
            ("p2", answers(&[("color", "purple")])),
            ("p2", answers(&[("size", "red")])),
            ("p2", answers(&[])),
            ("p2", Answer::Cancel { cancel: false }),
        ] {
            assert!(
                matches!(
                    prompts.take_for_answer(id, &answer),
                    Err(SessionError::BadRequest(_))
                ),
                "{answer:?} should be refused"
            );
        }
        assert_eq!(prompts.len(), 2);
    }

    /// Claude's AskUserQuestion shape: a choice plus an optional "Other" free text,
    /// neither required by the form.
    fn optional_form() -> Pending {
        let question = |id: &str, options: Option<Vec<String>>| Question {
            id: id.into(),
            question: id.into(),
            free_text: options.is_none(),
            options,
            optional: true,
            multiple: false,
        };
        Pending {
            seq: 6,
            event: Event::QuestionAsked {
                turn_id: "t".into(),
                prompt_id: "p3".into(),
                message: "Which colour?".into(),
                questions: vec![
                    question("question_0", Some(vec!["red".into(), "blue".into()])),
                    question("question_0_custom", None),
                ],
            },
            reply: None,
            deadline: None,
        }
    }

    #[test]
    fn optional_questions_may_be_skipped_but_not_all_of_them() {
        let mut prompts = Prompts::default();
        prompts.insert("p3".into(), optional_form());
        for refused in [
            answers(&[]),
            answers(&[("question_0_custom", "")]),
            answers(&[("question_0", "green")]),
        ] {
            assert!(
                matches!(
                    prompts.take_for_answer("p3", &refused),
                    Err(SessionError::BadRequest(_))
                ),
                "{refused:?} should be refused"
            );
        }
        let chosen = answers(&[("question_0", "blue"), ("question_0_custom", "")]);
        assert!(prompts.take_for_answer("p3", &chosen).is_ok());
    }

    /// Claude's multi-select AskUserQuestion: an array field of options (one holding a
    /// comma) plus its optional "Other" box; nothing required.
    fn multiple_form(optional: bool) -> Pending {
        Pending {
            seq: 7,
            event: Event::QuestionAsked {
                turn_id: "t".into(),
                prompt_id: "p4".into(),
                message: "Which checks?".into(),
                questions: vec![
                    Question {
                        id: "question_0".into(),
                        question: "Checks".into(),
                        options: Some(vec!["lint".into(), "Yes, with tests".into(), "docs".into()]),
                        free_text: false,
                        optional,
                        multiple: true,
                    },
                    Question {
                        id: "question_0_custom".into(),
                        question: "Other".into(),
                        options: None,
                        free_text: true,
                        optional: true,
                        multiple: false,
                    },
                ],
            },
            reply: None,
            deadline: None,
        }
    }

    fn many(pairs: &[(&str, &[&str])]) -> Answer {
        Answer::Answers {
            answers: pairs
                .iter()
                .map(|(k, vs)| {
                    let choices: Vec<String> = vs.iter().map(|v| v.to_string()).collect();
                    (k.to_string(), choices.into())
                })
                .collect(),
        }
    }

    fn refused(prompts: &mut Prompts, id: &str, answer: &Answer) -> String {
        match prompts.take_for_answer(id, answer) {
            Err(SessionError::BadRequest(message)) => message,
            other => panic!(
                "{answer:?} should be refused, got {:?}",
                other.map(|p| p.seq)
            ),
        }
    }

    #[test]
    fn a_multiple_question_takes_distinct_offered_choices() {
        let mut prompts = Prompts::default();
        prompts.insert("p4".into(), multiple_form(true));
        for (answer, says) in [
            (
                many(&[("question_0", &["lint", "purple"])]),
                "`purple` is not an option",
            ),
            (
                many(&[("question_0", &["lint", "lint"])]),
                "`lint` is chosen twice",
            ),
            (many(&[("question_0", &["lint", ""])]), "a choice is empty"),
            // A string that is no option is read as a comma list, each checked.
            (answers(&[("question_0", "Yes")]), "`Yes` is not an option"),
            (
                answers(&[("question_0", "lint, purple")]),
                "`purple` is not an option",
            ),
            // Unanswered everywhere: the all-optional form still needs an answer.
            (many(&[("question_0", &[])]), "answer at least one question"),
            (
                Answer::Answers {
                    answers: [
                        ("question_0".to_owned(), AnswerValue::Many(vec![])),
                        ("question_0_custom".to_owned(), "".into()),
                    ]
                    .into(),
                },
                "answer at least one question",
            ),
        ] {
            let message = refused(&mut prompts, "p4", &answer);
            assert!(message.contains(says), "{answer:?}: {message}");
        }
        assert_eq!(prompts.len(), 1);

        // Several choices (one holding a comma), the "Other" box left empty.
        let chosen = Answer::Answers {
            answers: [
                (
                    "question_0".to_owned(),
                    vec!["lint".to_owned(), "Yes, with tests".to_owned()].into(),
                ),
                ("question_0_custom".to_owned(), "".into()),
            ]
            .into(),
        };
        assert!(prompts.take_for_answer("p4", &chosen).is_ok());

        // A single string that is an option is one choice, commas and all; another is a
        // comma list of options.
        for one in [
            answers(&[("question_0", "Yes, with tests")]),
            answers(&[("question_0", "lint, docs")]),
            many(&[("question_0", &["docs"])]),
            // Nothing picked, something typed in "Other".
            Answer::Answers {
                answers: [
                    ("question_0".to_owned(), AnswerValue::Many(vec![])),
                    ("question_0_custom".to_owned(), "all of them".into()),
                ]
                .into(),
            },
        ] {
            prompts.insert("p4".into(), multiple_form(true));
            assert!(prompts.take_for_answer("p4", &one).is_ok(), "{one:?}");
        }
    }

    #[test]
    fn a_required_multiple_question_needs_a_choice() {
        let mut prompts = Prompts::default();
        prompts.insert("p4".into(), multiple_form(false));
        for answer in [
            many(&[("question_0", &[]), ("question_0_custom", &["x"])]),
            answers(&[("question_0", ""), ("question_0_custom", "x")]),
            answers(&[("question_0_custom", "x")]),
        ] {
            let message = refused(&mut prompts, "p4", &answer);
            assert!(
                message.contains("`question_0` is not answered"),
                "{message}"
            );
        }
        assert!(
            prompts
                .take_for_answer("p4", &many(&[("question_0", &["docs", "lint"])]))
                .is_ok()
        );
    }

    #[test]
    fn a_list_answers_only_a_multiple_question() {
        let mut prompts = Prompts::default();
        prompts.insert("p2".into(), question());
        prompts.insert("p3".into(), optional_form());
        for (id, answer) in [
            ("p2", many(&[("color", &["red"])])),
            ("p2", many(&[("color", &["red", "green"])])),
            ("p3", many(&[("question_0_custom", &["free"])])),
        ] {
            let message = refused(&mut prompts, id, &answer);
            assert!(
                message.contains("takes one answer, not a list"),
                "{message}"
            );
            assert!(
                message.contains("question `"),
                "names the question: {message}"
            );
        }
        assert_eq!(prompts.len(), 2);
    }

    #[test]
    fn a_multiple_free_text_question_takes_any_distinct_strings() {
        let mut prompts = Prompts::default();
        let mut pending = multiple_form(true);
        if let Event::QuestionAsked { questions, .. } = &mut pending.event {
            questions[0].free_text = true;
        }
        prompts.insert("p4".into(), pending);
        let message = refused(&mut prompts, "p4", &many(&[("question_0", &["x", "x"])]));
        assert!(message.contains("chosen twice"), "{message}");
        assert!(
            prompts
                .take_for_answer(
                    "p4",
                    &many(&[("question_0", &["lint", "my own, with a comma"])])
                )
                .is_ok()
        );
    }

    /// A string to a free-text `multiple` question is checked as the agent will get it:
    /// split on commas (what is checked is what is sent).
    #[test]
    fn a_string_to_a_free_text_multiple_question_is_checked_as_sent() {
        let mut prompts = Prompts::default();
        let mut pending = multiple_form(false);
        if let Event::QuestionAsked { questions, .. } = &mut pending.event {
            questions[0].free_text = true;
            questions[0].options = None;
        }
        prompts.insert("p4".into(), pending);
        let message = refused(&mut prompts, "p4", &answers(&[("question_0", ",")]));
        assert!(message.contains("not answered"), "{message}");
        let message = refused(&mut prompts, "p4", &answers(&[("question_0", "a, a")]));
        assert!(message.contains("chosen twice"), "{message}");
        assert!(
            prompts
                .take_for_answer("p4", &answers(&[("question_0", "a, b")]))
                .is_ok()
        );
    }

    #[test]
    fn an_answer_is_taken_once_and_later_ones_learn_the_resolution() {
        let mut prompts = Prompts::default();
        prompts.insert("p2".into(), question());
        let answer = answers(&[("color", "green")]);
        let pending = prompts.take_for_answer("p2", &answer).unwrap();
        assert_eq!(pending.seq, 5);
        let resolution = Resolution {
            prompt_id: "p2".into(),
            outcome: answer.clone().into_outcome(),
            resolved_at: chrono::Utc::now(),
        };
        prompts.remember(resolution.clone());
        match prompts.take_for_answer("p2", &Answer::Cancel { cancel: true }) {
            Err(SessionError::AlreadyResolved(winner)) => assert_eq!(*winner, resolution),
            other => panic!("expected already_resolved, got {:?}", other.err()),
        }
        assert!(matches!(
            prompts.take_for_answer("p9", &answer),
            Err(SessionError::NotFound(_))
        ));
    }
}
