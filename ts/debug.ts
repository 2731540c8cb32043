// The library's debug log: silent unless NODE_DEBUG names it (NODE_DEBUG=streamline:io),
// as node's own subsystems do.
import util from 'node:util'

export const debug = util.debuglog('streamline:io')
