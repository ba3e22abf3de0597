// Test processes run on Node 20; the AWS SDK's multi-line "upgrade to Node 22" notice would
// otherwise be printed by every worker and bury the results.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
