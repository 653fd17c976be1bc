/** A requester account's id as the coordinator makes them (`acct_` and hex): zod-free, for the widget's bundle too. */
export const ACCOUNT_ID_PATTERN = /^acct_[0-9a-f]{1,64}$/;

export const isAccountId = (value: string): boolean => ACCOUNT_ID_PATTERN.test(value);
