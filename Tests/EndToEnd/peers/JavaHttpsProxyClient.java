// A Java client through an HTTPS proxy: java.net.http.HttpClient with a ProxySelector (it tunnels https://
// with CONNECT) and the JVM's usual trust settings (javax.net.ssl.trustStore, as JAVA_TOOL_OPTIONS would
// set them). Run as a single-file source program:
//   java -Djavax.net.ssl.trustStore=T -Djavax.net.ssl.trustStorePassword=P JavaHttpsProxyClient.java PROXY_PORT URL
// Prints the status line "STATUS <code>" and the body; exits 1 on an exception (its class and message).
import java.net.InetSocketAddress;
import java.net.ProxySelector;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

public class JavaHttpsProxyClient {
    public static void main(String[] args) throws Exception {
        HttpClient client = HttpClient.newBuilder()
            .proxy(ProxySelector.of(new InetSocketAddress("127.0.0.1", Integer.parseInt(args[0]))))
            .version(HttpClient.Version.HTTP_1_1)
            .build();
        HttpRequest request = HttpRequest.newBuilder(URI.create(args[1]))
            .header("Authorization", "Bearer java-own")
            .build();
        try {
            HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString());
            System.out.println("STATUS " + response.statusCode());
            System.out.println(response.body());
        } catch (Exception e) {
            System.out.println("ERROR " + e.getClass().getName() + ": " + e.getMessage());
            System.exit(1);
        }
    }
}
