-- Platform dialects (TwiML, jambonz): a customer's platform connections (one JSON document,
-- secrets included, since confab must sign and authenticate with them), which dialect each
-- call arrived by and the platform's own conference id (Twilio's ConferenceSid, learnt when
-- the call joins), and the platform call a recording was started on.
ALTER TABLE customers ADD COLUMN connections TEXT NOT NULL DEFAULT '';
ALTER TABLE conferencecalls ADD COLUMN dialect TEXT NOT NULL DEFAULT 'native';
ALTER TABLE conferencecalls ADD COLUMN platform_conference TEXT NOT NULL DEFAULT '';
ALTER TABLE recordings ADD COLUMN platform_call TEXT NOT NULL DEFAULT '';
