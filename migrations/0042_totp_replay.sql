-- TOTP replay (issue #26): the time step of the last code accepted for a member. A code is
-- accepted only for a later step, so a code already used (or an earlier one) cannot be used
-- again within its window.
ALTER TABLE local_credentials ADD COLUMN totp_last_step bigint;
GRANT UPDATE (totp_last_step) ON local_credentials TO rampart_app;
