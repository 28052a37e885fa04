/** PageFS's version, as `pagefs version` prints it and the S3 user agent sends it. */
export const VERSION = "0.1.0";
