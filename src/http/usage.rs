//! JSON API routes for usage you can bill from (§16): a conference's summary and a customer's
//! usage per day or month, as JSON or (with `Accept: text/csv`) CSV.

use super::auth::Tenant;
use super::error::ApiError;
use super::input::path_id;
use super::AppState;
use crate::domain::timestamp::{api_or_not_set, ApiTime};
use crate::domain::usage::{ConferenceSummary, UsagePeriod, UsageRange};
use crate::domain::ConferenceId;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use utoipa::{IntoParams, ToSchema};

/// A conference's shape: its span, how many calls it had and how long they stayed.
#[derive(Serialize, ToSchema)]
#[schema(as = ConferenceSummary)]
pub struct SummaryJson {
    conference_id: ConferenceId,
    /// When its first call joined; `9999-…` if none has.
    #[schema(value_type = ApiTime)]
    tm_start: String,
    /// When it was terminated; `9999-…` while it runs.
    #[schema(value_type = ApiTime)]
    tm_end: String,
    /// From `tm_start` to `tm_end` (to now while it runs), whole seconds; 0 before it started.
    #[schema(minimum = 0)]
    duration_seconds: i64,
    /// The calls that have left: the sum of each one's `tm_left − tm_joined` in whole seconds
    /// (each rounded down).
    #[schema(minimum = 0)]
    participant_seconds: i64,
    /// The most calls joined at one time.
    #[schema(minimum = 0)]
    max_concurrent: i64,
    /// Conferencecalls that joined the room: each stay once (a call that joins again after
    /// leaving is a new conferencecall).
    #[schema(minimum = 0)]
    unique_calls: i64,
    /// Ended recordings: the sum of each one's `tm_end − tm_start` in whole seconds.
    #[schema(minimum = 0)]
    recording_seconds: i64,
}

impl From<ConferenceSummary> for SummaryJson {
    fn from(s: ConferenceSummary) -> SummaryJson {
        SummaryJson {
            conference_id: s.conference_id,
            tm_start: api_or_not_set(s.tm_start),
            tm_end: api_or_not_set(s.tm_end),
            duration_seconds: s.duration_seconds,
            participant_seconds: s.participant_seconds,
            max_concurrent: s.max_concurrent,
            unique_calls: s.unique_calls,
            recording_seconds: s.recording_seconds,
        }
    }
}

#[utoipa::path(get, path = "/v1.0/conferences/{id}/summary", operation_id = "get_conference_summary", tag = "usage",
    params(("id" = String, Path, format = Uuid, description = "The conference's id")),
    responses((status = 200, description = "The conference's summary, from its calls' join and leave times and its recordings", body = SummaryJson)))]
pub async fn summary(
    tenant: Tenant,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let summary = state.engine.conference_summary(tenant.0, id).await?;
    Ok(HttpResponse::Ok().json(SummaryJson::from(summary)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// The first day (UTC), `YYYY-MM-DD`; the first day of `to`'s month when absent.
    #[param(value_type = Option<String>, format = Date)]
    from: Option<String>,
    /// The last day (UTC), `YYYY-MM-DD`, counted; today when absent. At most 366 days from
    /// `from`, counting both.
    #[param(value_type = Option<String>, format = Date)]
    to: Option<String>,
    /// `day` (default) or `month`: a month at either end counts only its days in the range.
    #[param(value_type = Option<Granularity>, inline)]
    granularity: Option<String>,
}

/// How the report groups its days.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum Granularity {
    Day,
    Month,
}

/// A customer's usage in one period.
#[derive(Serialize, ToSchema)]
#[schema(as = UsagePeriod)]
struct PeriodJson<'a> {
    /// `YYYY-MM-DD` or `YYYY-MM` (UTC).
    period: &'a str,
    /// Conferences created in the period.
    #[schema(minimum = 0)]
    conferences: i64,
    /// Calls that left the room in the period, having joined it.
    #[schema(minimum = 0)]
    calls: i64,
    /// Those calls' `tm_left − tm_joined`, each in whole seconds (rounded down), summed. A call
    /// counts whole in the period it left.
    #[schema(minimum = 0)]
    participant_seconds: i64,
    /// Recordings that ended in the period: their length in whole seconds, summed.
    #[schema(minimum = 0)]
    recording_seconds: i64,
}

impl<'a> From<&'a UsagePeriod> for PeriodJson<'a> {
    fn from(p: &'a UsagePeriod) -> PeriodJson<'a> {
        PeriodJson {
            period: &p.period,
            conferences: p.usage.conferences,
            calls: p.usage.calls,
            participant_seconds: p.usage.participant_seconds,
            recording_seconds: p.usage.recording_seconds,
        }
    }
}

/// Every period of the range, in order, those without usage as zeros.
#[derive(Serialize, ToSchema)]
#[schema(as = UsageReport)]
struct UsageJson<'a> {
    #[schema(value_type = Vec<PeriodJson>)]
    result: Vec<PeriodJson<'a>>,
}

/// The CSV header line.
const CSV_HEADER: &str = "period,conferences,calls,participant_seconds,recording_seconds\r\n";

#[utoipa::path(get, path = "/v1.0/usage", operation_id = "get_usage", tag = "usage",
    params(UsageQuery),
    responses((status = 200, description = "The customer's usage per period (UTC), exact: each figure is the sum of the calls and recordings counted in it. Kept per customer and day as calls leave, so the answer's cost does not depend on the number of calls.",
        content((UsageJson = "application/json"), (String = "text/csv", example = json!("period,conferences,calls,participant_seconds,recording_seconds\r\n2026-12-05,3,12,5400,600\r\n"))))))]
pub async fn usage(
    req: HttpRequest,
    tenant: Tenant,
    state: web::Data<AppState>,
    q: web::Query<UsageQuery>,
) -> Result<HttpResponse, ApiError> {
    let range = UsageRange::parse(
        q.from.as_deref(),
        q.to.as_deref(),
        q.granularity.as_deref(),
        state.engine.today(),
    )
    .map_err(|e| ApiError::invalid_argument(e.field, e.message))?;
    let periods = state.engine.usage(tenant.0, range).await?;
    if super::input::prefers_over_json(&req, &["text/csv"]) {
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .body(csv(&periods)));
    }
    Ok(HttpResponse::Ok().json(UsageJson {
        result: periods.iter().map(PeriodJson::from).collect(),
    }))
}

/// RFC 4180: a header line, CRLF line ends; no field needs quoting (periods and numbers).
fn csv(periods: &[UsagePeriod]) -> String {
    let mut out = String::with_capacity(CSV_HEADER.len() + periods.len() * 40);
    out.push_str(CSV_HEADER);
    for p in periods {
        let u = &p.usage;
        // Writing into a String cannot fail.
        let _ = write!(
            out,
            "{},{},{},{},{}\r\n",
            p.period, u.conferences, u.calls, u.participant_seconds, u.recording_seconds
        );
    }
    out
}
