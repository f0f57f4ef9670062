// LatentLab's JShell start-up, run by ./latentlab shell after JShell's DEFAULT and PRINTING
// start-ups. It imports the public packages and binds `lab`; Python starts on first use.
import io.latentlab.shell.*;
import io.latentlab.bridge.*;
import io.latentlab.config.*;
import io.latentlab.lab.*;
import io.latentlab.run.*;
import io.latentlab.store.*;
import io.latentlab.sweep.*;
import io.latentlab.sweep.execute.*;
import io.latentlab.sweep.slurm.*;
import io.latentlab.sweep.report.*;
import io.latentlab.tensor.*;
import java.nio.file.Path;
Lab lab = Lab.open();
