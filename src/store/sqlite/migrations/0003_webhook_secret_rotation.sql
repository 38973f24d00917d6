-- Secret rotation: the previous secret keeps signing notifications (beside the new one) until
-- it expires, 24 h after the rotation.
ALTER TABLE customers ADD COLUMN webhook_secret_previous TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN webhook_secret_previous_until INTEGER;
