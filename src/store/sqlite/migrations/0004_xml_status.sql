-- The XML API status last reported to a conference's onStatus URL, so each change is reported
-- exactly once.
ALTER TABLE conferences ADD COLUMN xml_status TEXT NOT NULL DEFAULT '';
