/**
 * The functions a validated query may call: pure SQL functions only (aggregates, window, math,
 * string, date/time, JSON, conditional). Anything not named here is refused, so a function the
 * list forgot fails closed; pg_read_file, lo_*, dblink*, set_config, pg_sleep*, pg_advisory_*,
 * nextval/setval, txid_current, query_to_xml, pg_terminate_backend are absent on purpose.
 */

/** Splits a whitespace-separated list. */
function words(list: string): string[] {
  return list.split(/\s+/).filter(Boolean);
}

const COMMON = words(`
  count sum avg min max stddev stddev_pop stddev_samp variance var_pop var_samp bool_and
  bool_or every corr covar_pop covar_samp regr_slope regr_intercept regr_r2 regr_count
  regr_avgx regr_avgy row_number rank dense_rank percent_rank cume_dist ntile lag lead
  first_value last_value nth_value abs ceil ceiling floor round trunc truncate sign sqrt
  cbrt power pow exp ln log log10 log2 mod div pi degrees radians sin cos tan asin acos atan
  atan2 cot greatest least width_bucket lower upper length char_length character_length
  octet_length bit_length substring substr trim btrim ltrim rtrim lpad rpad concat concat_ws
  replace reverse left right repeat position strpos initcap split_part translate md5 ascii
  chr format overlay starts_with instr locate coalesce nullif ifnull now date_trunc
  date_part extract age to_char to_date to_timestamp to_number make_date make_time
  make_timestamp make_interval justify_days justify_hours justify_interval isfinite date_bin
  timezone date
`);

const POSTGRES_ONLY = words(`
  string_agg array_agg json_agg jsonb_agg json_object_agg jsonb_object_agg percentile_cont
  percentile_disc mode bit_and bit_or any_value random scale factorial gcd lcm
  numeric_inexact regexp_replace regexp_match regexp_matches regexp_split_to_array
  regexp_like regexp_count regexp_substr regexp_instr quote_ident quote_literal to_hex
  encode decode string_to_array array_to_string array_length array_position array_positions
  array_remove array_append array_prepend array_cat cardinality array_lower array_upper
  array_dims current_date clock_timestamp statement_timestamp transaction_timestamp
  localtime localtimestamp to_json to_jsonb json_build_object jsonb_build_object
  json_build_array jsonb_build_array json_extract_path json_extract_path_text
  jsonb_extract_path jsonb_extract_path_text jsonb_typeof json_typeof jsonb_array_length
  json_array_length jsonb_path_exists jsonb_path_query_first jsonb_pretty jsonb_strip_nulls
  json_strip_nulls row_to_json array_to_json num_nonnulls num_nulls interval float8 float4
  int4 int8 numeric text
`);

const MYSQL_ONLY = words(`
  group_concat if datediff date_add date_sub date_format str_to_date curdate current_date
  current_timestamp year month day dayofmonth dayofweek dayofyear week weekday quarter hour
  minute second last_day timestampdiff timestampadd from_unixtime unix_timestamp monthname
  dayname makedate period_diff adddate subdate addtime subtime time timestamp convert cast
  char lcase ucase mid space field elt find_in_set regexp_replace regexp_substr regexp_instr
  hex rand json_extract json_unquote json_object json_array json_length json_contains
  json_keys std bit_count yearweek utc_date sysdate
`);

export const POSTGRES_FUNCTIONS: ReadonlySet<string> = new Set<string>([
  ...COMMON,
  ...POSTGRES_ONLY,
]);
export const MYSQL_FUNCTIONS: ReadonlySet<string> = new Set<string>([...COMMON, ...MYSQL_ONLY]);

/**
 * Types a PostgreSQL cast may name: built-in scalar types, whose input functions are pure. A
 * user-defined type's input function could be anything, so it is refused like an unknown call.
 */
export const POSTGRES_TYPES: ReadonlySet<string> = new Set([
  ...words(
    `int2 int4 int8 smallint integer int bigint float4 float8 real float numeric decimal text varchar bpchar char character name bool boolean date time timetz timestamp timestamptz interval json jsonb uuid bytea money inet cidr bit varbit`,
  ),
  'double precision',
  'character varying',
]);
