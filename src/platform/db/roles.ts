/** The role every request runs as: not the owner, not superuser, no BYPASSRLS. Created by migration 0001. */
export const APP_ROLE = 'rampart_app';
