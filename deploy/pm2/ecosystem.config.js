// PM2 process file for a long-running VM: `pm2 start deploy/pm2/ecosystem.config.js`.
// The process is named `ai-trader`, so the runbook's `pm2 flush ai-trader` clears its logs;
// install pm2-logrotate for rotation. Run from the repository root after `./dev.sh run` once
// (which creates .venv).
const path = require("path");
const root = path.resolve(__dirname, "..", "..");

module.exports = {
  apps: [
    {
      name: "ai-trader",
      cwd: root,
      script: path.join(root, ".venv", "bin", "ai-trader"),
      args: ["up"],
      interpreter: "none",
      kill_timeout: 20000,
      autorestart: true,
      max_restarts: 10,
      restart_delay: 5000,
      time: true,
      env: { LOG_LEVEL: "INFO" },
    },
  ],
};
