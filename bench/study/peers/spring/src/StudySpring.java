// The study's Java peer: GET /api/matmul, /api/health and /api/compute in Spring MVC on an
// embedded Tomcat, answering as examples/matmul and examples/fastserve do. Built against
// Debian's Spring (libspring-web-servlet-java) and Tomcat (libtomcat9-java) jars by
// bench/study/peers/spring/build.sh:
//
//   java -cp classes:<jars> StudySpring 127.0.0.1:3005
//
// Debian's spring-core cannot proxy @Configuration classes, so the controller and the MVC
// infrastructure (handler mapping and adapter) are registered as beans directly.

import java.io.File;
import java.nio.file.Files;

import org.apache.catalina.Context;
import org.apache.catalina.connector.Connector;
import org.apache.catalina.startup.Tomcat;
import org.springframework.beans.factory.support.RootBeanDefinition;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.stereotype.Controller;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.context.support.GenericWebApplicationContext;
import org.springframework.web.servlet.DispatcherServlet;
import org.springframework.web.servlet.mvc.method.annotation.RequestMappingHandlerAdapter;
import org.springframework.web.servlet.mvc.method.annotation.RequestMappingHandlerMapping;

public class StudySpring {
    static final int MAX_N = 5000;

    /** The study's A and B of size n, multiplied with the i-k-j loop; the sum of the product. */
    static double matmul(int n) {
        double[] a = new double[n * n];
        double[] b = new double[n * n];
        double[] c = new double[n * n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                a[i * n + j] = (31 * i + 17 * j) % 100;
                b[i * n + j] = (13 * i + 7 * j) % 100;
            }
        }
        for (int i = 0; i < n; i++) {
            int row = i * n;
            for (int k = 0; k < n; k++) {
                double aik = a[row + k];
                int bRow = k * n;
                for (int j = 0; j < n; j++) {
                    c[row + j] += aik * b[bRow + j];
                }
            }
        }
        double sum = 0;
        for (double v : c) {
            sum += v;
        }
        return sum;
    }

    static long fib(int n) {
        return n < 2 ? n : fib(n - 1) + fib(n - 2);
    }

    static ResponseEntity<String> json(int status, String body) {
        return ResponseEntity.status(status).contentType(MediaType.APPLICATION_JSON).body(body);
    }

    static ResponseEntity<String> badRequest(String message) {
        return json(400, "{\"error\":\"" + message + "\",\"status\":400}");
    }

    static Integer parse(String text) {
        if (text == null || !text.matches("\\d{1,9}")) {
            return null;
        }
        return Integer.parseInt(text);
    }

    @Controller
    public static class Api {
        @GetMapping("/api/matmul")
        public ResponseEntity<String> matmul(
                @RequestParam(value = "n", required = false) String nText,
                @RequestParam(value = "kernel", defaultValue = "naive") String kernel) {
            if (!kernel.equals("naive")) {
                return badRequest("unknown kernel");
            }
            Integer n = parse(nText);
            if (n == null || n < 1 || n > MAX_N) {
                return badRequest("n must be a number in 1..=" + MAX_N);
            }
            long start = System.nanoTime();
            double checksum = StudySpring.matmul(n);
            double millis = ((System.nanoTime() - start) / 1000) / 1000.0;
            return json(200, String.format(
                    "{\"n\":%d,\"kernel\":\"naive\",\"checksum\":%d,\"millis\":%.3f}",
                    n, (long) checksum, millis));
        }

        @GetMapping("/api/health")
        public ResponseEntity<String> health() {
            return ResponseEntity.ok().contentType(MediaType.TEXT_PLAIN).body("ok");
        }

        @GetMapping("/api/compute")
        public ResponseEntity<String> compute(
                @RequestParam(value = "n", defaultValue = "30") String nText) {
            Integer n = parse(nText);
            if (n == null || n > 40) {
                return badRequest("n must be a whole number in 0..=40");
            }
            return json(200, "{\"n\":" + n + ",\"fib\":" + fib(n) + "}");
        }
    }

    public static void main(String[] args) throws Exception {
        String[] address = (args.length > 0 ? args[0] : "127.0.0.1:3005").split(":");
        GenericWebApplicationContext spring = new GenericWebApplicationContext();
        spring.registerBeanDefinition("api", new RootBeanDefinition(Api.class));
        spring.registerBeanDefinition(
                "handlerMapping", new RootBeanDefinition(RequestMappingHandlerMapping.class));
        spring.registerBeanDefinition(
                "handlerAdapter", new RootBeanDefinition(RequestMappingHandlerAdapter.class));

        File base = Files.createTempDirectory("study-spring").toFile();
        base.deleteOnExit();
        Tomcat tomcat = new Tomcat();
        tomcat.setBaseDir(base.getAbsolutePath());
        Connector connector = new Connector();
        connector.setProperty("address", address[0]);
        connector.setPort(Integer.parseInt(address[1]));
        tomcat.setConnector(connector);
        Context context = tomcat.addContext("", base.getAbsolutePath());
        Tomcat.addServlet(context, "dispatcher", new DispatcherServlet(spring)).setLoadOnStartup(1);
        context.addServletMappingDecoded("/", "dispatcher");
        tomcat.start();
        System.out.println("listening on " + args[0]);
        tomcat.getServer().await();
    }
}
