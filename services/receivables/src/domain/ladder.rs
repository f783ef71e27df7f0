//! The dunning ladder of a renter's violation: which steps, on which day counted from the
//! notice, and what each step sends. The ladder is configuration; the default is the desk's:
//! notice at once, reminders on D+3 and D+10, the deadline on D+15, the escalation call on D+16,
//! the charge (fine plus service fee, and the points transfer) on D+30, collections on D+60.

use rentops_kernel::Fen;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::violation::{Match, Notice, NoticeChannel, Record};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Step {
    Notice,
    Reminder,
    FinalReminder,
    Deadline,
    Escalation,
    Charge,
    Collections,
}

impl Step {
    pub const ALL: [Step; 7] = [
        Step::Notice,
        Step::Reminder,
        Step::FinalReminder,
        Step::Deadline,
        Step::Escalation,
        Step::Charge,
        Step::Collections,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Step::Notice => "NOTICE",
            Step::Reminder => "REMINDER",
            Step::FinalReminder => "FINAL_REMINDER",
            Step::Deadline => "DEADLINE",
            Step::Escalation => "ESCALATION",
            Step::Charge => "CHARGE",
            Step::Collections => "COLLECTIONS",
        }
    }

    pub fn parse(code: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|s| s.code() == code)
    }
}

/// The ladder: its steps in order with their day (counted from the notice), the deadline given
/// in the notice, the service fee charged with the fine, and the working days the renter has to
/// contest the points transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ladder {
    steps: Vec<(Step, u32)>,
    pub deadline_days: u32,
    pub service_fee: Fen,
    pub appeal_working_days: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LadderError {
    #[error("the ladder must start with NOTICE on day 0")]
    NoNotice,
    #[error("unknown step {0:?} (NOTICE, REMINDER, FINAL_REMINDER, DEADLINE, ESCALATION, CHARGE, COLLECTIONS)")]
    UnknownStep(String),
    #[error("{0:?} is not STEP:DAY")]
    Malformed(String),
    #[error("steps must be in the order NOTICE, REMINDER, … and their days must not go down: {0}")]
    OutOfOrder(String),
    #[error("a day above 365: {0}")]
    TooLate(u32),
}

impl Default for Ladder {
    fn default() -> Self {
        Self {
            steps: vec![
                (Step::Notice, 0),
                (Step::Reminder, 3),
                (Step::FinalReminder, 10),
                (Step::Deadline, 15),
                (Step::Escalation, 16),
                (Step::Charge, 30),
                (Step::Collections, 60),
            ],
            deadline_days: 15,
            // 50 CNY for handling a violation the renter left unhandled.
            service_fee: Fen(5_000),
            appeal_working_days: 5,
        }
    }
}

impl Ladder {
    /// A ladder of `steps` (each at most once, in the canonical order, days not going down,
    /// starting with the notice on day 0).
    pub fn new(
        steps: Vec<(Step, u32)>,
        deadline_days: u32,
        service_fee: Fen,
        appeal_working_days: u32,
    ) -> Result<Self, LadderError> {
        if steps.first() != Some(&(Step::Notice, 0)) {
            return Err(LadderError::NoNotice);
        }
        for pair in steps.windows(2) {
            if pair[0].0 >= pair[1].0 || pair[0].1 > pair[1].1 {
                return Err(LadderError::OutOfOrder(format!("{:?} then {:?}", pair[0], pair[1])));
            }
        }
        if let Some((_, day)) = steps.iter().find(|(_, d)| *d > 365) {
            return Err(LadderError::TooLate(*day));
        }
        Ok(Self {
            steps,
            deadline_days,
            service_fee,
            appeal_working_days,
        })
    }

    /// `NOTICE:0,REMINDER:3,…` as configuration gives it.
    pub fn parse_steps(text: &str) -> Result<Vec<(Step, u32)>, LadderError> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|item| {
                let (code, day) = item
                    .split_once(':')
                    .ok_or_else(|| LadderError::Malformed(item.into()))?;
                let step = Step::parse(code.trim()).ok_or_else(|| LadderError::UnknownStep(code.trim().into()))?;
                let day = day.trim().parse().map_err(|_| LadderError::Malformed(item.into()))?;
                Ok((step, day))
            })
            .collect()
    }

    pub fn steps(&self) -> &[(Step, u32)] {
        &self.steps
    }

    pub fn has(&self, step: Step) -> bool {
        self.steps.iter().any(|(s, _)| *s == step)
    }
}

fn yuan(f: Fen) -> String {
    f.to_string()
}

fn local(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::macros::offset!(+8));
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// What `step` sends to the renter (or the desk) of `matched` about `record`.
pub fn notices(
    step: Step,
    record: &Record,
    matched: &Match,
    deadline: Option<OffsetDateTime>,
    charged: Fen,
) -> Vec<Notice> {
    let what = format!(
        "{} {} {} {}（罚款 {} 元，记 {} 分）",
        record.plate,
        local(record.offence_at),
        record.place,
        record.offence_text,
        yuan(record.fine),
        record.points
    );
    let by = deadline.map(local).unwrap_or_default();
    let to = |channel, template: &str, text: String| Notice {
        channel,
        customer_id: matched.customer_id.clone(),
        phone: matched.customer_phone.clone(),
        template: template.to_owned(),
        text,
    };
    match step {
        Step::Notice => {
            let text = format!("您租用期间的车辆有一条违章：{what}。请于 {by} 前在交管12123处理。");
            vec![
                to(NoticeChannel::Sms, "violation_notice", text.clone()),
                to(NoticeChannel::AppPush, "violation_notice", text),
            ]
        }
        Step::Reminder => vec![to(
            NoticeChannel::Sms,
            "violation_reminder",
            format!("提醒：违章 {what} 尚未处理，请于 {by} 前在交管12123处理。"),
        )],
        Step::FinalReminder => vec![to(
            NoticeChannel::Sms,
            "violation_final_reminder",
            format!("最后提醒：违章 {what} 请于 {by} 前处理，逾期将从违章押金扣除罚款及服务费。"),
        )],
        Step::Deadline => vec![to(
            NoticeChannel::Sms,
            "violation_deadline",
            format!("今天是违章 {what} 的处理期限。"),
        )],
        Step::Escalation => vec![to(
            NoticeChannel::DeskCall,
            "violation_escalation",
            format!("逾期未处理违章：{what}，请致电客户。"),
        )],
        Step::Charge => vec![to(
            NoticeChannel::Sms,
            "violation_charged",
            format!(
                "违章 {what} 逾期未处理，已计入账单 {} 元（罚款及服务费）。",
                yuan(charged)
            ),
        )],
        Step::Collections => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ladder_is_configuration_but_must_make_sense() {
        let steps = Ladder::parse_steps("NOTICE:0, REMINDER:2,CHARGE:20").unwrap();
        assert_eq!(steps, vec![(Step::Notice, 0), (Step::Reminder, 2), (Step::Charge, 20)]);
        assert!(Ladder::new(steps, 15, Fen(5_000), 5).is_ok());
        assert_eq!(
            Ladder::new(vec![(Step::Reminder, 0)], 15, Fen::ZERO, 5),
            Err(LadderError::NoNotice)
        );
        assert!(matches!(
            Ladder::new(
                vec![(Step::Notice, 0), (Step::Charge, 30), (Step::Reminder, 40)],
                15,
                Fen::ZERO,
                5
            ),
            Err(LadderError::OutOfOrder(_))
        ));
        assert!(matches!(
            Ladder::new(
                vec![(Step::Notice, 0), (Step::Reminder, 9), (Step::Deadline, 3)],
                15,
                Fen::ZERO,
                5
            ),
            Err(LadderError::OutOfOrder(_))
        ));
        assert_eq!(
            Ladder::parse_steps("NOTICE"),
            Err(LadderError::Malformed("NOTICE".into()))
        );
        assert_eq!(
            Ladder::parse_steps("LATER:3"),
            Err(LadderError::UnknownStep("LATER".into()))
        );
    }
}
