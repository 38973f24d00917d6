//! The voice a `talk` action's gender and language pick on platforms that name voices instead
//! (TwiML's `<Say voice>`, jambonz's `synthesizer.voice`): Amazon Polly's standard voices,
//! which Twilio offers as `Polly.<Name>` and jambonz's AWS speech vendor as `<Name>`.

use crate::actions::Gender;

/// (language, female voice, male voice). `neutral` takes the female voice: Polly has no
/// neutral standard voice.
const VOICES: &[(&str, &str, &str)] = &[
    ("en-US", "Joanna", "Matthew"),
    ("en-GB", "Amy", "Brian"),
    ("en-AU", "Nicole", "Russell"),
    ("en-IN", "Aditi", "Aditi"),
    ("de-DE", "Marlene", "Hans"),
    ("es-ES", "Conchita", "Enrique"),
    ("es-US", "Penelope", "Miguel"),
    ("fr-FR", "Celine", "Mathieu"),
    ("fr-CA", "Chantal", "Chantal"),
    ("it-IT", "Carla", "Giorgio"),
    ("ja-JP", "Mizuki", "Takumi"),
    ("ko-KR", "Seoyeon", "Seoyeon"),
    ("nl-NL", "Lotte", "Ruben"),
    ("pt-BR", "Vitoria", "Ricardo"),
    ("pt-PT", "Ines", "Cristiano"),
    ("ru-RU", "Tatyana", "Maxim"),
    ("sv-SE", "Astrid", "Astrid"),
    ("tr-TR", "Filiz", "Filiz"),
    ("pl-PL", "Ewa", "Jacek"),
    ("da-DK", "Naja", "Mads"),
    ("nb-NO", "Liv", "Liv"),
];

/// The Polly voice for a gender and language, if the table has the language (compared
/// without regard to case, as BCP-47 tags are).
pub fn polly(gender: Gender, language: &str) -> Option<&'static str> {
    VOICES
        .iter()
        .find(|(lang, _, _)| lang.eq_ignore_ascii_case(language))
        .map(|(_, female, male)| {
            if gender == Gender::Male {
                *male
            } else {
                *female
            }
        })
}

/// TwiML's voice: `Polly.<Name>` from the table, else Twilio's basic `man`/`woman`, which
/// speak any language Twilio supports.
pub fn twiml(gender: Gender, language: &str) -> String {
    match polly(gender, language) {
        Some(name) => format!("Polly.{name}"),
        None if gender == Gender::Male => "man".into(),
        None => "woman".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gender_and_language_pick_a_voice() {
        assert_eq!(twiml(Gender::Female, "en-US"), "Polly.Joanna");
        assert_eq!(twiml(Gender::Male, "EN-us"), "Polly.Matthew");
        assert_eq!(twiml(Gender::Neutral, "de-DE"), "Polly.Marlene");
        assert_eq!(twiml(Gender::Male, "xx-XX"), "man");
        assert_eq!(twiml(Gender::Neutral, "xx-XX"), "woman");
        assert_eq!(polly(Gender::Female, "xx-XX"), None);
    }
}
