#!/usr/bin/env node
// The package ships compiled JavaScript (built by `npm ci` through the prepare script).
import "../dist/cli/main.js";
