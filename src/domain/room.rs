//! Room rules (§14): who may still join a conference, the role a call joins with, and how the
//! platform must put it in the room (start it, end it, mute it, make it wait with music).

use super::names::names;

/// Largest `max_participants` (0 means no limit).
pub const MAX_PARTICIPANTS: i64 = 1000;

/// A conference's room rules, the fields after the seed's 16 (§14).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoomRules {
    /// Calls joining or joined at most; 0 = no limit.
    pub max_participants: i64,
    /// No call may join while set; calls already in stay.
    pub locked: bool,
    /// Only a moderator starts the room; the others wait with `wait_music_url`.
    pub wait_for_moderator: bool,
    /// When the last joined moderator leaves, the other joined calls are kicked.
    pub end_on_moderator_exit: bool,
    /// What waiting callers hear; `""` = the platform's silence.
    pub wait_music_url: String,
}

/// The role a call joins with (`role_set`); `participant` unless a flow says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum Role {
    #[default]
    Participant,
    Moderator,
    Listener,
}

names!(Role {
    Participant = "participant",
    Moderator = "moderator",
    Listener = "listener",
});

impl<'de> serde::Deserialize<'de> for Role {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Role, D::Error> {
        let name = String::deserialize(d)?;
        Role::parse(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown role {name:?}; expected participant, moderator or listener"
            ))
        })
    }
}

/// How a call is put in the room: what `conference_join` carries besides the conference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinOptions {
    pub role: Role,
    /// Listeners join muted.
    pub muted: bool,
    /// Whether this call starts the room; with `wait_for_moderator` only a moderator does.
    pub start_on_enter: bool,
    /// Whether the room ends when this call leaves: a moderator's, with
    /// `end_on_moderator_exit`.
    pub end_on_exit: bool,
    pub wait_music_url: String,
}

impl RoomRules {
    /// How a call with `role` joins this room.
    pub fn join_options(&self, role: Role) -> JoinOptions {
        let moderator = role == Role::Moderator;
        JoinOptions {
            role,
            muted: role == Role::Listener,
            start_on_enter: !self.wait_for_moderator || moderator,
            end_on_exit: self.end_on_moderator_exit && moderator,
            wait_music_url: self.wait_music_url.clone(),
        }
    }

    /// Whether `active` calls (joining or joined) leave room for one more.
    pub fn has_room_for_one_more(&self, active: usize) -> bool {
        self.max_participants <= 0 || (active as i64) < self.max_participants
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moderator_starts_and_ends_the_room_and_a_listener_is_muted() {
        let rules = RoomRules {
            wait_for_moderator: true,
            end_on_moderator_exit: true,
            wait_music_url: "https://m/wait.mp3".into(),
            ..RoomRules::default()
        };
        let m = rules.join_options(Role::Moderator);
        assert!(m.start_on_enter && m.end_on_exit && !m.muted);
        let p = rules.join_options(Role::Participant);
        assert!(!p.start_on_enter && !p.end_on_exit && !p.muted);
        let l = rules.join_options(Role::Listener);
        assert!(l.muted && !l.start_on_enter);
        let open = RoomRules::default().join_options(Role::Participant);
        assert!(open.start_on_enter && !open.end_on_exit);
        assert!(RoomRules::default().has_room_for_one_more(5000));
        let ten = RoomRules {
            max_participants: 10,
            ..RoomRules::default()
        };
        assert!(ten.has_room_for_one_more(9) && !ten.has_room_for_one_more(10));
    }
}
